"""API bodies for ICB demand signals (``/api/v1/demand-signals``), their matches and the
national demand summary (``/api/v1/demand/summary``).

Field names follow the ``demand.signal.*`` events (``schemas.events.demand``), so API and
events read alike; the API adds ``requires_central_approval`` (the events, whose schemas
refuse unknown fields, do not carry it yet) and the signal's status.
"""
from __future__ import annotations

from marshmallow import Schema, fields, validate

from schemas.api.innovations import CATEGORY_PATTERN, InnovationOut
from schemas.api.organisations import OrganisationRef
from schemas.events.common import ESF_TIERS, PATHWAY_STAGES
from schemas.events.demand import CLOSE_OUTCOMES
from schemas.fields import (
    Choice,
    Count,
    Currency,
    Day,
    Flag,
    Id,
    OdsCode,
    Pattern,
    Pence,
    Text,
    doc,
)
from schemas.statuses import SignalStatus, words

#: The largest indicative budget a signal may state (GBP 100bn): every sum of them fits
#: a 64-bit integer however many signals there are.
MAX_BUDGET_PENCE = 10**13
#: More people than any footprint has (the UK is about 69 million).
MAX_POPULATION = 10**9


SIGNAL_STATUSES = words(SignalStatus)


def _signal_fields(required: bool) -> dict[str, fields.Field]:
    """The fields an ICB states: required on post, each optional on update."""
    req = {"required": required}
    listed = {"required": False, **({"load_default": list} if required else {})}
    maybe = {"required": False, "allow_none": True, **({"load_default": None} if required
                                                       else {})}
    return {
        "title": Text("Short statement of the need.", **req),
        "need": Text("The need, the population and the outcome sought (public).",
                     max_length=4000, **req),
        "categories": fields.List(
            Pattern(CATEGORY_PATTERN), validate=validate.Length(min=1, max=10),
            **doc("Catalogue categories that could meet it, e.g. `cancer.triage`; a listing "
                  "in the category or below it matches.", **req)),
        "pathway_stages": fields.List(
            Choice(PATHWAY_STAGES), validate=validate.Length(min=1, max=len(PATHWAY_STAGES)),
            **doc("Care-pathway stages of the need.", **req)),
        "use_cases": fields.List(
            Text(max_length=200), validate=validate.Length(max=20),
            **doc("Use cases sought, e.g. `remote monitoring`.", **listed)),
        "trusts": fields.List(
            OdsCode(kind="trust"), validate=validate.Length(max=50),
            **doc("ODS codes of the ICB's trusts that share the need.", **listed)),
        "min_esf_tier": Choice(ESF_TIERS, "Lowest NICE ESF tier acceptable (A < B < C: C "
                               "asks the most evidence).", **req),
        "requires_central_approval": Flag(
            "Only listings whose current version holds a live central approval match "
            "(default true).", **({"required": False, "load_default": True} if required
                                  else {"required": False})),
        "population_covered": Count("People in the footprint the need covers.",
                                    validate=validate.Range(max=MAX_POPULATION), **maybe),
        "indicative_budget_pence": Pence("Indicative budget in pence; null if not stated.",
                                         validate=validate.Range(max=MAX_BUDGET_PENCE),
                                         **maybe),
        "needed_by": Day("When a solution is needed (not in the past).", **maybe),
    }


DemandSignalCreate = Schema.from_dict({
    **_signal_fields(required=True),
    "icb_ods": OdsCode("The ICB it is for: the caller's own (another ICB is a 403).",
                       kind="icb", optional=True),
    "currency": Currency(required=False, load_default="GBP"),
}, name="DemandSignalCreate")
DemandSignalCreate.__doc__ = "A new open demand signal of the caller's ICB."

DemandSignalUpdate = Schema.from_dict(_signal_fields(required=False),
                                      name="DemandSignalUpdate")
DemandSignalUpdate.__doc__ = "Changes to an open signal (send If-Match)."


class DemandSignalClose(Schema):
    """How the signal ends: it no longer counts towards open demand."""

    outcome = Choice(CLOSE_OUTCOMES, "`tender_published` (with `tender_id`), "
                     "`met_by_existing_contract`, `withdrawn` or `expired`.")
    tender_id = Id("The tender it led to (with outcome tender_published).", optional=True)


class DemandSignalQuery(Schema):
    status = Choice(SIGNAL_STATUSES, required=False)
    icb = OdsCode("ICB ODS code; an ICB merged into another finds the successor's signals, "
                  "its predecessors' included", kind="icb", required=False)
    category = Pattern(CATEGORY_PATTERN, "signals in this category or below it",
                       required=False)
    pathway = Choice(PATHWAY_STAGES, required=False)
    posted_from = Day("posted on or after this day (Europe/London)", required=False)
    posted_to = Day("posted on or before this day (Europe/London)", required=False)


class SummaryQuery(Schema):
    icb = OdsCode("only this ICB's demand (following mergers)", kind="icb", required=False)
    posted_from = Day("signals posted on or after this day (Europe/London)", required=False)
    posted_to = Day("signals posted on or before this day (Europe/London)", required=False)


class MatchQuery(Schema):
    # fields.Boolean, not Flag: query strings say true/false as text.
    near_misses = fields.Boolean(**doc(
        "true: the listings that fit the need but fall short of the bar, each with what it "
        "lacks, instead of the matches", required=False, load_default=False))


class DemandSignalOut(Schema):
    id = fields.String()
    icb = fields.Nested(OrganisationRef, attribute="owner", **doc(
        "the ICB that owns it now (after a merger, the successor)", required=False))
    posted_by = fields.Nested(OrganisationRef, attribute="icb", **doc(
        "the ICB that posted it", required=False))
    status = Choice(SIGNAL_STATUSES, required=False)
    title = fields.String()
    need = fields.String()
    categories = fields.List(fields.String())
    pathway_stages = fields.List(fields.String())
    use_cases = fields.List(fields.String())
    trusts = fields.List(fields.String())
    min_esf_tier = fields.String()
    requires_central_approval = fields.Boolean()
    population_covered = fields.Integer(allow_none=True)
    indicative_budget_pence = fields.Integer(allow_none=True)
    currency = fields.String()
    needed_by = fields.Date(allow_none=True)
    posted_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    closed_at = fields.AwareDateTime(allow_none=True)
    outcome = fields.String(allow_none=True)
    tender_id = fields.String(allow_none=True)
    version = fields.Integer()


#: The listing as a match shows it: enough to judge and follow it (``GET /innovations/{id}``
#: has the rest).
MATCHED_LISTING_FIELDS = ("id", "organisation", "name", "summary", "product_version",
                          "categories", "pathway_stages", "use_cases", "esf_tier",
                          "device_class", "current_approval", "published_at")


class MatchedListingOut(InnovationOut):
    """A listing as a match or near miss shows it (a schema of its own name, so the
    OpenAPI document names it once)."""

    class Meta:
        fields = MATCHED_LISTING_FIELDS


class MatchOut(Schema):
    innovation = fields.Nested(MatchedListingOut)
    score = fields.Float(**doc("fit: 4 x share of the signal's categories served, 2 x share "
                               "of its pathway stages, 1 for an approval lasting to the "
                               "needed-by date, up to 1 for text relevance", required=False))
    text_relevance = fields.Float(**doc("0 to 1: the signal's words in the listing, "
                                        "relative to the best in this list",
                                        required=False))
    matched_categories = fields.List(fields.String(), **doc(
        "the signal's categories the listing is in (or below)", required=False))
    matched_pathway_stages = fields.List(fields.String())
    reasons = fields.List(fields.String(), **doc("why it fits", required=False))
    lacks = fields.List(fields.String(), **doc("what keeps a near miss from matching; empty "
                                               "for a match", required=False))


class DemandFigures(Schema):
    open_signals = fields.Integer()
    icbs = fields.Integer(**doc("distinct ICBs (a merged ICB counts as its successor)",
                                required=False))
    indicative_budget_pence = fields.Integer(**doc("sum of the budgets stated",
                                                   required=False))
    signals_with_budget = fields.Integer()
    population_covered = fields.Integer(**doc("sum of the populations stated",
                                              required=False))
    signals_with_population = fields.Integer()


class DemandRow(DemandFigures):
    pre_approved_listings = fields.Integer(**doc(
        "published listings pre-approved now that serve it (a category: in it or below "
        "it); the supply", required=False))
    supply_gap = fields.Boolean(**doc("open demand and no pre-approved listing",
                                      required=False))


class CategoryDemand(DemandRow):
    category = fields.String()


class StageDemand(DemandRow):
    pathway_stage = fields.String()


class DemandSummaryOut(Schema):
    as_of = fields.AwareDateTime()
    icb = fields.Nested(OrganisationRef, allow_none=True)
    posted_from = fields.Date(allow_none=True)
    posted_to = fields.Date(allow_none=True)
    currency = fields.String()
    total = fields.Nested(DemandFigures, **doc("each open signal once", required=False))
    by_category = fields.List(fields.Nested(CategoryDemand), **doc(
        "a signal counts under each of its categories", required=False))
    by_pathway_stage = fields.List(fields.Nested(StageDemand))
