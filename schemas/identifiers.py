"""Organisation identifiers: NHS ODS codes and Companies House numbers.

Kept in the contract package because both the marketplace (validating input)
and the trust adapters (checking events) need the same rules.
"""
from __future__ import annotations

import re

from schemas.statuses import OrganisationKind as K

#: ICB: ``Q`` and two upper-case letters or digits (e.g. ``QE1``).
ICB_ODS_PATTERN = r"^Q[A-Z0-9]{2}$"
#: Trust: ``R`` or ``T`` and two upper-case letters or digits (e.g. ``RJ1``).
TRUST_ODS_PATTERN = r"^[RT][A-Z0-9]{2}$"
#: NHS England, regional bodies and other national organisations: 3 to 5 characters.
NATIONAL_ODS_PATTERN = r"^[A-Z0-9]{3,5}$"
#: 8 digits (England and Wales) or two letters and 6 digits (SC, NI, OC, ...).
COMPANIES_HOUSE_PATTERN = r"^([0-9]{8}|[A-Z]{2}[0-9]{6})$"

ICB_ODS = re.compile(ICB_ODS_PATTERN)
TRUST_ODS = re.compile(TRUST_ODS_PATTERN)
NATIONAL_ODS = re.compile(NATIONAL_ODS_PATTERN)
COMPANIES_HOUSE = re.compile(COMPANIES_HOUSE_PATTERN)

ORGANISATION_CODE_RULES: dict[str, tuple[re.Pattern[str], ...]] = {
    K.ICB: (ICB_ODS,),
    K.TRUST: (TRUST_ODS,),
    K.INNOVATOR: (COMPANIES_HOUSE,),
    K.ASSESSOR: (NATIONAL_ODS,),
    K.FUNDER: (NATIONAL_ODS, COMPANIES_HOUSE),
}

ORGANISATION_CODE_HELP: dict[str, str] = {
    K.ICB: "an ICB ODS code: Q and two upper-case letters or digits, e.g. QE1",
    K.TRUST: "a trust ODS code: R or T and two upper-case letters or digits, e.g. RJ1",
    K.INNOVATOR: "a Companies House number: 8 digits or 2 letters and 6 digits",
    K.ASSESSOR: "an ODS code of 3 to 5 upper-case letters or digits",
    K.FUNDER: "an ODS code or a Companies House number",
}


def organisation_code_error(kind: str, code: str) -> str | None:
    """``None`` when ``code`` is valid for an organisation of ``kind``, else why not."""
    rules = ORGANISATION_CODE_RULES.get(kind)
    if rules is None:
        return f"unknown organisation kind {kind!r}"
    if any(rule.fullmatch(code) for rule in rules):
        return None
    return f"must be {ORGANISATION_CODE_HELP[kind]}"

