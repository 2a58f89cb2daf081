"""The register's tables: what state the route defines and what the state hash covers.

Declared with the route, not with the register, because the rules decide what state
exists: the *shared* tables hold what every conforming trust derives identically
(approvals, frameworks, awards, suppliers, contracts) and make up the state hash
(:mod:`adapters.route.hashing`); the *trust* tables (funding lines, orders, invoices,
payments) hold what only concerns this trust.
"""
from __future__ import annotations

from typing import Any

Record = dict[str, Any]

# (column, kind): kind is "str", "int", "bool" or "json". The first column is the key.
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "approval": (
        ("approval_id", "str"), ("innovation_id", "str"), ("product_version", "str"),
        ("innovator_org_id", "str"), ("innovator_companies_house_number", "str"),
        ("status", "str"), ("decided_at", "str"), ("expires_at", "str"),
        ("status_at", "str"), ("status_reason", "str"), ("conditions", "json"),
        ("nice_esf_tier", "str"), ("device_class", "str"), ("reinstated", "bool"),
    ),
    "framework": (
        ("framework_id", "str"), ("reference", "str"), ("title", "str"),
        ("starts_at", "str"), ("ends_at", "str"), ("status", "str"), ("status_at", "str"),
    ),
    "framework_award": (
        ("award_id", "str"), ("framework_id", "str"), ("framework_reference", "str"),
        ("lot_id", "str"), ("lot_number", "str"), ("supplier_org_id", "str"),
        ("innovation_ids", "json"), ("price_ceilings", "json"), ("starts_at", "str"),
        ("ends_at", "str"), ("status", "str"), ("status_at", "str"),
    ),
    # One row per way a supplier is onboarded (a framework award or a contract), so the
    # table never depends on the order in which different aggregates were applied.
    "supplier": (
        ("onboarding_id", "str"), ("supplier_org_id", "str"), ("via", "str"),
        ("via_id", "str"), ("companies_house_number", "str"), ("legal_name", "str"),
        ("vat_number", "str"), ("country_code", "str"), ("peppol_participant_id", "str"),
        ("valid_from", "str"), ("valid_until", "str"), ("status", "str"),
    ),
    "contract": (
        ("contract_id", "str"), ("reference", "str"), ("buyer_icb_ods", "str"),
        ("framework_id", "str"), ("supplier_org_id", "str"), ("innovation_id", "str"),
        ("value_pence", "int"), ("currency", "str"), ("starts_on", "str"),
        ("ends_on", "str"), ("lines", "json"), ("eligible_trusts", "json"),
        ("payment_terms_days", "int"), ("variation_number", "int"), ("status", "str"),
        ("status_at", "str"), ("effective_end_on", "str"),
    ),
    "funding_line": (
        ("allocation_id", "str"), ("pot_id", "str"), ("funder_org_id", "str"),
        ("funder_type", "str"), ("programme", "str"), ("financial_year", "str"),
        ("period_start", "str"), ("period_end", "str"), ("innovation_id", "str"),
        ("contract_id", "str"), ("amount_pence", "int"), ("committed_pence", "int"),
        ("currency", "str"), ("status", "str"), ("status_at", "str"),
    ),
    "purchase_order": (
        ("order_id", "str"), ("order_number", "str"), ("contract_id", "str"),
        ("icb_ods", "str"), ("supplier", "json"), ("buyer_reference", "str"),
        ("lines", "json"), ("net_pence", "int"), ("vat_pence", "int"),
        ("gross_pence", "int"), ("vat_breakdown", "json"), ("currency", "str"),
        ("delivery_site_ods", "str"), ("requested_delivery_on", "str"),
        ("funding_allocation_id", "str"), ("placed_at", "str"), ("status", "str"),
        ("reason_code", "str"), ("reasons", "json"), ("status_at", "str"),
        ("invoiced_net_pence", "int"), ("invoiced_gross_pence", "int"),
    ),
    "invoice": (
        ("invoice_id", "str"), ("invoice_number", "str"), ("order_id", "str"),
        ("order_number", "str"), ("contract_id", "str"), ("supplier", "json"),
        ("buyer_reference", "str"), ("lines", "json"), ("net_pence", "int"),
        ("vat_pence", "int"), ("gross_pence", "int"), ("vat_breakdown", "json"),
        ("currency", "str"), ("issue_date", "str"), ("tax_point_date", "str"),
        ("due_date", "str"), ("issued_at", "str"), ("match_status", "str"),
        ("mismatches", "json"), ("paid_pence", "int"), ("payment_status", "str"),
    ),
    "payment": (
        ("payment_id", "str"), ("invoice_id", "str"), ("order_id", "str"),
        ("supplier_org_id", "str"), ("amount_pence", "int"), ("currency", "str"),
        ("provider", "str"), ("provider_reference", "str"), ("status", "str"),
        ("status_at", "str"), ("failure_code", "str"), ("reconciliation", "str"),
        ("note", "str"),
    ),
}
SHARED_TABLES: tuple[str, ...] = ("approval", "framework", "framework_award", "supplier",
                                  "contract")
TRUST_TABLES: tuple[str, ...] = ("funding_line", "purchase_order", "invoice", "payment")


def key_column(table: str) -> str:
    return TABLES[table][0][0]
