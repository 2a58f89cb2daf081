"""API bodies for tenders, clarifications, sealed responses, evaluation and award
(``/api/v1/tenders``).

Field names follow the ``tender.*`` events (``schemas.events.tenders``) and the demand
signals' (categories, pathway stages, ``min_esf_tier``), so a tender reads like the need
it answers. What a response says (price, unit prices, answers) is only ever written by
its responder and read by it, or by the buyer once the submission deadline has passed.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.api.innovations import CATEGORY_PATTERN
from schemas.events.common import (
    ESF_TIERS,
    PATHWAY_STAGES,
    PERCENT_PATTERN,
    UNIT_CODE_PATTERN,
    VAT_CATEGORIES,
    ensure_after,
)
from schemas.events.tenders import CANCEL_REASONS
from schemas.fields import (
    BIGINT_MAX,
    Choice,
    Count,
    Currency,
    Id,
    Pattern,
    Pence,
    Text,
    Timestamp,
    doc,
)
from schemas.statuses import (
    CriterionKind,
    ResponseStatus,
    TenderProcedure,
    TenderStatus,
    words,
)

TENDER_STATUSES = words(TenderStatus)
PROCEDURES = words(TenderProcedure)
CRITERION_KINDS = words(CriterionKind)
RESPONSE_STATUSES = words(ResponseStatus)
#: The sandbox's accelerator divides a tender's periods by at most this (Prozorro's bound).
MAX_ACCELERATOR = 14400
MAX_CRITERIA = 10
MAX_LINES = 50
#: No tender is worth more than GBP 100bn: every total of them fits 64 bits.
MAX_VALUE_PENCE = 10**13
MAX_QUANTITY = 10**9


class CriterionIn(Schema):
    """An award criterion as the buyer publishes it."""

    title = Text("What is assessed.")
    weight_percent = Count("Weight in percent; all weights add up to 100.", minimum=1,
                           validate=validate.Range(max=100))
    kind = Choice(CRITERION_KINDS, "`quality`, `social_value`, or `price` (exactly one).")


class TenderLineIn(Schema):
    """An item the contract will carry; each response prices it."""

    item_id = Id("Item id, unique within the tender.")
    description = Text("What is bought.", max_length=500)
    unit_code = Pattern(UNIT_CODE_PATTERN, "UN/ECE Rec 20 unit, e.g. C62 (one).")
    quantity = Count("Units expected over the term (the contract's call-off limit).",
                     minimum=1, validate=validate.Range(max=MAX_QUANTITY))
    vat_category = Choice(VAT_CATEGORIES, "VAT category (UNCL5305).", required=False,
                          load_default="S")
    vat_rate = Pattern(PERCENT_PATTERN, "VAT rate in percent, e.g. \"20\".",
                       required=False, load_default="20")


class TenderCreate(Schema):
    """A draft tender of the caller's ICB, published with ``POST /tenders/{id}/publish``."""

    title = Text("Title of the requirement.")
    description = Text("The requirement as published.", max_length=8000)
    categories = fields.List(Pattern(CATEGORY_PATTERN, validate=validate.Length(max=100)),
                             validate=validate.Length(min=1, max=10),
                             **doc("Catalogue categories in scope."))
    pathway_stages = fields.List(Choice(PATHWAY_STAGES),
                                 validate=validate.Length(min=1, max=len(PATHWAY_STAGES)),
                                 **doc("Care-pathway stages."))
    procedure = Choice(PROCEDURES, "`open`, or `framework_competition` (with `framework_id` "
                       "and `lot_id`).")
    framework_id = Id("Framework competed under (framework competitions).", optional=True)
    lot_id = Id("Lot competed under (framework competitions).", optional=True)
    estimated_value_pence = Pence("Published estimated total value, in pence.",
                                  validate=validate.Range(max=MAX_VALUE_PENCE))
    currency = Currency(required=False, load_default="GBP")
    contract_term_months = Count("Initial contract term in months.", minimum=1,
                                 validate=validate.Range(max=120))
    clarification_deadline = Timestamp("Last time to ask questions (Europe/London).")
    submission_deadline = Timestamp("Responses close (Europe/London).")
    min_esf_tier = Choice(ESF_TIERS, "Lowest NICE ESF tier a responding listing may have.")
    criteria = fields.List(fields.Nested(CriterionIn),
                           validate=validate.Length(min=2, max=MAX_CRITERIA),
                           **doc("Award criteria; weights add up to 100, exactly one is "
                                 "price."))
    lines = fields.List(fields.Nested(TenderLineIn),
                        validate=validate.Length(min=1, max=MAX_LINES),
                        **doc("Items to price; default one item, the whole requirement.",
                              optional=True))
    signal_id = Id("The demand signal it answers (closed as tender_published when the "
                   "tender is published).", optional=True)
    accelerator = Count("Sandbox only (MARKETPLACE_SANDBOX=true): divide every period by "
                        "this; otherwise a 422.", minimum=1,
                        validate=validate.Range(max=MAX_ACCELERATOR), optional=True)

    @validates_schema
    def _consistent(self, data: dict[str, Any], **kwargs: Any) -> None:
        criteria = data.get("criteria") or []
        if criteria and sum(c["weight_percent"] for c in criteria) != 100:
            raise ValidationError("Weights must add up to 100.", "criteria")
        if criteria and sum(c["kind"] == CriterionKind.PRICE for c in criteria) != 1:
            raise ValidationError("Exactly one criterion must be price.", "criteria")
        ensure_after(data, "clarification_deadline", "submission_deadline")
        framework = data.get("procedure") == TenderProcedure.FRAMEWORK_COMPETITION
        for name in ("framework_id", "lot_id"):
            if framework and not data.get(name):
                raise ValidationError("Required for a framework competition.", name)
            if not framework and data.get(name):
                raise ValidationError("Only for a framework competition.", name)
        items = [line["item_id"] for line in data.get("lines") or []]
        if len(set(items)) != len(items):
            raise ValidationError("Item ids must be unique.", "lines")


class CancelIn(Schema):
    """Why a tender is cancelled (published to every trust and in OCDS)."""

    reason_code = Choice(CANCEL_REASONS)
    reason = Text("Why, in words (no personal data).", max_length=1000)


class TenderQuery(Schema):
    status = Choice(TENDER_STATUSES, required=False)
    procedure = Choice(PROCEDURES, required=False)


class CriterionOut(Schema):
    criterion_id = fields.String(attribute="id")
    title = fields.String()
    kind = fields.String()
    weight_percent = fields.Integer()


class TenderLineOut(Schema):
    item_id = fields.String()
    description = fields.String()
    unit_code = fields.String()
    quantity = fields.Integer()
    vat_category = fields.String()
    vat_rate = fields.String()


class QuestionOut(Schema):
    """A clarification as published: never who asked."""

    id = fields.String()
    number = fields.Integer()
    question = fields.String()
    asked_at = fields.AwareDateTime()
    answer = fields.String(allow_none=True)
    answered_at = fields.AwareDateTime(allow_none=True)


class TenderOut(Schema):
    id = fields.String()
    reference = fields.String()
    ocid = fields.String()
    icb = fields.String(attribute="icb.code")
    status = Choice(TENDER_STATUSES, required=False)
    procedure = fields.String()
    framework_id = fields.String(allow_none=True)
    lot_id = fields.String(allow_none=True)
    signal_id = fields.String(allow_none=True)
    title = fields.String()
    description = fields.String()
    categories = fields.List(fields.String())
    pathway_stages = fields.List(fields.String())
    lines = fields.List(fields.Nested(TenderLineOut))
    estimated_value_pence = fields.Integer()
    currency = fields.String()
    contract_term_months = fields.Integer()
    min_esf_tier = fields.String()
    criteria = fields.List(fields.Nested(CriterionOut))
    accelerator = fields.Integer()
    clarification_deadline = fields.AwareDateTime(metadata={"description": "As posted."})
    submission_deadline = fields.AwareDateTime(metadata={"description": "As posted."})
    clarification_closes_at = fields.AwareDateTime(allow_none=True, metadata={
        "description": "As enforced (set at publication; accelerated in the sandbox)."})
    submission_closes_at = fields.AwareDateTime(allow_none=True)
    published_at = fields.AwareDateTime(allow_none=True)
    closed_at = fields.AwareDateTime(allow_none=True)
    responses_received = fields.Integer(allow_none=True, metadata={
        "description": "Set when the tender closes; never shown before the deadline."})
    award_id = fields.String(allow_none=True)
    awarded_at = fields.AwareDateTime(allow_none=True)
    standstill_ends_at = fields.AwareDateTime(allow_none=True)
    contract_id = fields.String(allow_none=True)
    cancelled_at = fields.AwareDateTime(allow_none=True)
    reason_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    questions = fields.Method("answered_questions", metadata={
        "description": "Answered clarifications, published to all (never who asked)."})
    created_at = fields.AwareDateTime()
    version = fields.Integer()

    def answered_questions(self, tender: Any) -> list[dict[str, Any]]:
        return QuestionOut(many=True).dump(
            [q for q in tender.questions if q.answer is not None])


class QuestionIn(Schema):
    question = Text("The question (no personal data: it is published with its answer).",
                    max_length=4000)


class AnswerIn(Schema):
    answer = Text("The answer, published with the question to everyone.", max_length=8000)


class AnswerText(Schema):
    """An answer to one non-price criterion."""

    criterion_id = Id("A non-price criterion of the tender.")
    text = Text("The answer.", max_length=20000)


class UnitPrice(Schema):
    item_id = Id("An item of the tender.")
    unit_price_pence = Pence("Price of one unit excluding VAT, in pence.",
                             validate=validate.Range(max=BIGINT_MAX))


class ResponseCreate(Schema):
    """A sealed response for one of the caller's listings; sending it again before the
    deadline replaces it."""

    innovation_id = Id("The responding listing (published, meeting the evidence bar).")
    price_pence = Pence("Total price over the term excluding VAT, in pence.",
                        validate=validate.Range(min=1, max=MAX_VALUE_PENCE))
    answers = fields.List(fields.Nested(AnswerText),
                          validate=validate.Length(min=1, max=MAX_CRITERIA),
                          **doc("One answer for every non-price criterion."))
    unit_prices = fields.List(fields.Nested(UnitPrice),
                              validate=validate.Length(min=1, max=MAX_LINES),
                              **doc("A unit price for every item; with one item, default "
                                    "price / quantity.", optional=True))


class ResponseReceipt(Schema):
    """What a submission answers with: never the sealed content itself."""

    id = fields.String()
    tender_id = fields.String()
    innovation_id = fields.String()
    status = Choice(RESPONSE_STATUSES, required=False)
    submitted_at = fields.AwareDateTime()
    replaced_count = fields.Integer()
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    version = fields.Integer()


class ResponseOut(ResponseReceipt):
    """A response opened for its responder, or for the buyer after the deadline."""

    supplier = fields.String(metadata={"description": "Companies House number."})
    price_pence = fields.Integer()
    unit_prices = fields.List(fields.Nested(UnitPrice))
    answers = fields.List(fields.Nested(AnswerText))


class ScoreIn(Schema):
    criterion_id = Id("A non-price criterion.")
    score = Count("0 to 100.", validate=validate.Range(max=100))
    rationale = Text("Why this score (shared with the responder after the award).",
                     max_length=4000)


class EvaluationIn(Schema):
    """The buyer's scores of one response; price is scored by formula."""

    response_id = Id("A response to this tender.")
    scores = fields.List(fields.Nested(ScoreIn), validate=validate.Length(min=1, max=10),
                         **doc("One score for every non-price criterion."))


class ScoreOut(Schema):
    criterion_id = fields.String()
    title = fields.String()
    kind = fields.String()
    weight_percent = fields.Integer()
    score = fields.Integer(allow_none=True, metadata={
        "description": "0-100 (price: lowest price / this price x 100)."})
    weighted = fields.String(allow_none=True, metadata={
        "description": "The criterion's points, to two decimals."})
    rationale = fields.String(allow_none=True)


class RankedResponse(Schema):
    response_id = fields.String()
    innovation_id = fields.String()
    supplier = fields.String()
    price_pence = fields.Integer()
    scored = fields.Boolean()
    total = fields.String(allow_none=True, metadata={"description": "Points out of 100, to "
                                                     "two decimals; null until scored."})
    rank = fields.Integer(allow_none=True)
    tied = fields.Boolean(metadata={"description": "Shares its rank with another response "
                                    "(never broken silently)."})
    scores = fields.List(fields.Nested(ScoreOut))


class EvaluationOut(Schema):
    tender_id = fields.String()
    status = fields.String()
    complete = fields.Boolean()
    ranking = fields.List(fields.Nested(RankedResponse))
    tie_at_top = fields.Boolean()


class AwardIn(Schema):
    response_id = Id("The most advantageous response (ranked first).")


class OutcomeEntry(Schema):
    response_id = fields.String()
    innovation_id = fields.String()
    total = fields.String()
    rank = fields.Integer()
    scores = fields.List(fields.Nested(ScoreOut))


class OutcomeOut(Schema):
    """The assessment summary (Procurement Act 2023, s.50): the responder's own scores and
    the winner's, with rationales; no losing price is ever shown."""

    tender_id = fields.String()
    award_id = fields.String()
    awarded_at = fields.AwareDateTime()
    standstill_ends_at = fields.AwareDateTime()
    award_value_pence = fields.Integer()
    winner = fields.Nested(OutcomeEntry)
    own = fields.List(fields.Nested(OutcomeEntry))
    responses = fields.List(fields.Nested(OutcomeEntry), metadata={
        "description": "Every response's scores (the buyer only)."})
