"""An innovator as events name a supplier: the one shape every trust's ERP onboards."""
from __future__ import annotations

from typing import Any

from marketplace.organisations.models import Organisation

#: Where every supplier the marketplace onboards is registered (Companies House).
SUPPLIER_COUNTRY = "GB"


def supplier_party(org: Organisation) -> dict[str, Any]:
    """``SupplierSchema`` of an innovator; Peppol ids are not held yet."""
    return {"org_id": org.public_id, "companies_house_number": org.code,
            "legal_name": org.name, "vat_number": org.vat_number, "country_code": SUPPLIER_COUNTRY,
            "peppol_participant_id": None}
