"""Events of topic ``marketplace.demand``: ICB demand signals.

Keyed by ``signal_id``. Posted and updated carry the whole signal, so national demand
(by category, pathway, ICB and budget) can be summed from the events alone.
"""
from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from schemas.events.common import (
    ESF_TIERS,
    EX_ICB,
    EX_SIGNAL,
    EX_TENDER,
    EX_TRUST,
    PATHWAY_STAGES,
    EventSchema,
    changes_of,
)
from schemas.fields import Choice, Count, Currency, Day, Id, OdsCode, Pence, Text, Timestamp, doc

CLOSE_OUTCOMES: tuple[str, ...] = (
    "tender_published", "met_by_existing_contract", "withdrawn", "expired",
)


class DemandSignalRefSchema(EventSchema):
    """Identifies the signal and the ICB that owns it."""

    signal_id = Id("The demand signal's id (record key of this topic).")
    icb_ods = OdsCode("ODS code of the ICB that posted it.", kind="icb")


class DemandSignalStateSchema(DemandSignalRefSchema):
    """The demand signal as it is after the event."""

    title = Text("Short statement of the need.")
    need = Text("The need, the population and the outcome sought.", max_length=4000)
    categories = fields.List(Text(max_length=100), validate=validate.Length(min=1),
                             **doc("Catalogue categories that could meet it."))
    pathway_stages = fields.List(Choice(PATHWAY_STAGES), **doc("Care-pathway stages."))
    use_cases = fields.List(Text(max_length=200), **doc("Use cases sought."))
    min_esf_tier = Choice(ESF_TIERS, "Lowest NICE ESF tier of evidence acceptable.")
    trusts = fields.List(OdsCode(kind="trust"), **doc("ODS codes of the ICB's trusts that "
                                                      "share the need."))
    population_covered = Count("People in the footprint the need covers.", optional=True)
    indicative_budget_pence = Pence("Indicative budget in pence; null if not stated.",
                                    optional=True)
    currency = Currency()
    needed_by = Day("When a solution is needed.", optional=True)


_CHANGEABLE = set(DemandSignalStateSchema().fields) - set(DemandSignalRefSchema().fields)


class DemandSignalPosted(DemandSignalStateSchema):
    """An ICB posted a demand signal; innovators and the national demand summary see it."""

    posted_at = Timestamp("When it was posted.")


class DemandSignalUpdated(DemandSignalStateSchema):
    """An open demand signal changed; carries the whole signal after the change."""

    changed_fields = changes_of("Which fields changed.", _CHANGEABLE)
    updated_at = Timestamp("When it changed.")


class DemandSignalClosed(DemandSignalRefSchema):
    """The signal no longer counts towards open demand."""

    outcome = Choice(CLOSE_OUTCOMES, "How it closed.")
    tender_id = Id("The tender it led to, if any.", optional=True)
    closed_at = Timestamp("When it closed.")


_STATE_EXAMPLE: dict[str, Any] = {
    "signal_id": EX_SIGNAL,
    "icb_ods": EX_ICB,
    "title": "Faster triage of urgent suspected cancer referrals",
    "need": "Reduce time from GP referral to first test on the lower GI and skin "
            "pathways across the ICB's acute trusts.",
    "categories": ["cancer.triage"],
    "pathway_stages": ["referral_triage"],
    "use_cases": ["AI triage", "digital pre-assessment"],
    "min_esf_tier": "B",
    "trusts": [EX_TRUST, "RVR"],
    "population_covered": 1_500_000,
    "indicative_budget_pence": 25_000_000,
    "currency": "GBP",
    "needed_by": "2026-10-01",
}
POSTED_EXAMPLE: dict[str, Any] = {**_STATE_EXAMPLE, "posted_at": "2026-02-10T09:00:00+00:00"}
UPDATED_EXAMPLE: dict[str, Any] = {
    **_STATE_EXAMPLE, "indicative_budget_pence": 30_000_000,
    "changed_fields": ["indicative_budget_pence"],
    "updated_at": "2026-03-03T15:20:00+00:00",
}
CLOSED_EXAMPLE: dict[str, Any] = {
    "signal_id": EX_SIGNAL,
    "icb_ods": EX_ICB,
    "outcome": "tender_published",
    "tender_id": EX_TENDER,
    "closed_at": "2026-04-20T10:00:00+01:00",
}
