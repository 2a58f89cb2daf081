"""Events of topic ``marketplace.approvals``: the central approval, assessed once.

Keyed by ``approval_id``: one approval record covers one product version and has its
own lifecycle (granted or conditional, then suspended, reinstated, revoked or expired),
and its own ``sequence``. Approvals of different versions of one innovation are
independent (the old stays valid for the old version until it lapses), so they need
no common order. ``approval.granted`` and ``approval.conditional`` carry the whole
assessment, so a trust's register of approved innovations (with expiry) is built from
these events alone; the other three only change the record's status.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from schemas.events.common import (
    DEVICE_CLASSES,
    DEVICE_MARKS,
    ESF_TIERS,
    EX_APPROVAL,
    EX_ASSESSOR_ORG,
    EX_INNOVATION,
    EX_INNOVATOR_CH,
    EX_INNOVATOR_ORG,
    EventSchema,
    constant,
    ensure_after,
)
from schemas.fields import (
    Choice,
    CompaniesHouseNumber,
    Count,
    Day,
    Flag,
    Id,
    OrgId,
    Pattern,
    Text,
    Timestamp,
    doc,
)
from schemas.statuses import ApprovalStatus, DecisionOutcome, words

DTAC_RESULTS: tuple[str, ...] = ("pass", "conditional", "fail", "not_applicable")
#: The DTAC v2 sections a decision is judged on (``d_score`` is a score, not a result).
DTAC_SECTIONS: tuple[str, ...] = ("c1", "c2", "c3", "c4", "d")
DSPT_STATUSES: tuple[str, ...] = (
    "standards_exceeded", "standards_met", "approaching_standards", "standards_not_met",
    "not_published",
)
#: A DSPT publication year, ``2025-26`` (see :func:`dspt_year_error` for the whole rule).
DSPT_YEAR_PATTERN = r"^20[0-9]{2}-[0-9]{2}$"
CYBER_ESSENTIALS_LEVELS: tuple[str, ...] = ("cyber_essentials", "cyber_essentials_plus")
NICE_ROUTES: tuple[str, ...] = (
    "none", "early_value_assessment", "medtech_guidance", "diagnostics_guidance",
    "technology_appraisal",
)
#: Why an approval was suspended or revoked.
ACTION_REASONS: tuple[str, ...] = (
    "safety_concern", "security_incident", "evidence_lapsed", "evidence_invalid",
    "condition_not_met", "regulatory_action", "innovator_request", "other",
)
#: Evidence whose lapse can expire an approval.
EVIDENCE_KINDS: tuple[str, ...] = (
    "dspt", "cyber_essentials", "device_certificate", "penetration_test", "dtac_review",
    "condition_deadline",
)
#: Statuses in which a product version counts as pre-approved: those a suspension can
#: pause, and a reinstatement return to.
PRE_APPROVED_STATUSES: tuple[str, ...] = words((ApprovalStatus.APPROVED,
                                                ApprovalStatus.CONDITIONAL))


def dspt_year_error(year: str) -> str | None:
    """Why ``year`` is not a DSPT publication year, or None when it is one.

    Returns ``"Use the form 2025-26."`` when ``year`` does not match
    :data:`DSPT_YEAR_PATTERN`, and ``"The two years must be consecutive, e.g. 2025-26."``
    when the second year is not the one after the first (``2099-00`` is consecutive).
    """
    if not isinstance(year, str) or re.fullmatch(DSPT_YEAR_PATTERN, year) is None:
        return "Use the form 2025-26."
    if (int(year[:4]) + 1) % 100 != int(year[5:]):
        return "The two years must be consecutive, e.g. 2025-26."
    return None


def decision_problems(outcome: str, dtac: Mapping[str, Any], conditions: Sequence[Any],
                      notes: str | None = None) -> dict[str, str]:
    """Why a decision contradicts itself, as field name -> short message; empty when the
    decision is consistent. The one statement of the rule: the approval events and the
    marketplace's API both apply it.

    ``outcome`` is a :class:`~schemas.statuses.DecisionOutcome`; ``dtac`` maps at least
    each of :data:`DTAC_SECTIONS` to a DTAC result (other keys, such as ``d_score``, are
    ignored); ``conditions`` are the conditions attached; ``notes`` the assessor's notes.

    - ``approved``: ``{"dtac": "a section failed or is conditional"}`` if any section is
      ``fail`` or ``conditional``; ``{"conditions": "must be empty when approved"}`` if
      there are conditions.
    - ``conditional``: ``{"dtac": "a section failed"}`` if any section is ``fail``;
      ``{"conditions": "at least one condition"}`` if there are none.
    - ``rejected``: ``{"notes": "required"}`` if ``notes`` is None or empty. Only the API
      meets this case: events carry no notes and no rejection.
    - any other outcome: ``{}`` (the schemas' choice of outcomes rejects it).

    Both fields can fail at once; ``dtac`` then comes first.
    """
    results = {dtac[section] for section in DTAC_SECTIONS}
    problems: dict[str, str] = {}
    if outcome == DecisionOutcome.APPROVED:
        if results & {"fail", "conditional"}:
            problems["dtac"] = "a section failed or is conditional"
        if conditions:
            problems["conditions"] = "must be empty when approved"
    elif outcome == DecisionOutcome.CONDITIONAL:
        if "fail" in results:
            problems["dtac"] = "a section failed"
        if not conditions:
            problems["conditions"] = "at least one condition"
    elif outcome == DecisionOutcome.REJECTED and not notes:
        problems["notes"] = "required"
    return problems


def _check_decision(outcome: str, data: Mapping[str, Any],
                    messages: Mapping[str, str]) -> None:
    """Raise the first of the decision's problems, in the event type's own words."""
    problems = decision_problems(outcome, data["dtac"], data["conditions"])
    if problems:
        name = next(iter(problems))
        raise ValidationError(messages[name], name)


class DtacResultsSchema(Schema):
    """Per-section result of the DTAC v2 assessment."""

    c1 = Choice(DTAC_RESULTS, "C1 clinical safety: DCB0129 safety case, hazard log, "
                "clinical safety officer in post.")
    c2 = Choice(DTAC_RESULTS, "C2 data protection: ICO registration, DPIA, DSPT.")
    c3 = Choice(DTAC_RESULTS, "C3 technical security: Cyber Essentials, penetration test, "
                "MFA.")
    c4 = Choice(DTAC_RESULTS, "C4 interoperability.")
    d = Choice(DTAC_RESULTS, "D usability and accessibility.")
    d_score = Count("D usability and accessibility score, percent.",
                    validate=validate.Range(max=100), optional=True)


class ConditionSchema(Schema):
    """A condition attached to a conditional approval."""

    condition_id = Id("Condition id, unique within the approval.")
    text = Text("What the innovator must do.", max_length=1000)
    due_on = Day("Date by which it must be met; null: no deadline.", optional=True)


class ApprovalRefSchema(EventSchema):
    """Identifies the approval record and what it covers."""

    approval_id = Id("The approval record's id (record key of this topic).")
    innovation_id = Id("The innovation listing approved.")
    innovator_org_id = OrgId("The innovator.")
    product_version = Text("The product version this approval covers, and only it.",
                           max_length=50)


class ApprovalDecisionSchema(ApprovalRefSchema):
    """The full assessment as decided: what a trust's register keeps per approval."""

    innovator_companies_house_number = CompaniesHouseNumber(
        "Companies House number of the innovator.")
    assessor_org_id = OrgId("The assessing organisation (never a person).")
    dtac = fields.Nested(DtacResultsSchema, **doc("DTAC v2 results per section."))
    dspt_status = Choice(DSPT_STATUSES, "Data Security and Protection Toolkit status.")
    dspt_year = Pattern(DSPT_YEAR_PATTERN, "DSPT publication year, e.g. 2025-26.")
    cyber_essentials_level = Choice(CYBER_ESSENTIALS_LEVELS, "Cyber Essentials level held.")
    cyber_essentials_expires_on = Day("Expiry date of the Cyber Essentials certificate.")
    penetration_test_on = Day("Date of the last penetration test.", optional=True)
    device_class = Choice(DEVICE_CLASSES, "MHRA (UK MDR) device class, or not_a_device.")
    device_mark = Choice(DEVICE_MARKS, "Conformity mark (`none` if not a device).")
    device_certificate_expires_on = Day("Expiry of the device conformity certificate; null "
                                        "if none applies.", optional=True)
    nice_esf_tier = Choice(ESF_TIERS, "NICE Evidence Standards Framework tier assessed.")
    nice_route = Choice(NICE_ROUTES, "NICE evaluation route, if any.", optional=True)
    conditions = fields.List(fields.Nested(ConditionSchema),
                             **doc("Conditions of approval; empty unless conditional."))
    decided_at = Timestamp("When the assessor decided (or reinstated).")
    expires_at = Timestamp("When the approval lapses: the earliest expiry of its evidence.")
    reinstated = Flag("True when this re-grants a suspended approval.", required=False,
                      load_default=False)

    @validates_schema
    def _expires_after_decision(self, data: dict[str, Any], **kwargs: Any) -> None:
        ensure_after(data, "decided_at", "expires_at")


class ApprovalGranted(ApprovalDecisionSchema):
    """The innovation's product version is pre-approved for every trust until
    `expires_at`; trusts add it to their approved-innovation register. Also emitted when
    a suspended approval is reinstated (`reinstated: true`, same `approval_id`)."""

    status = constant(ApprovalStatus.APPROVED, "Always `approved`.")

    @validates_schema
    def _all_sections_passed(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_decision(DecisionOutcome.APPROVED, data, {
            "dtac": "An approval needs no failed or conditional section.",
            "conditions": "An unconditional approval has no conditions.",
        })


class ApprovalConditional(ApprovalDecisionSchema):
    """Approved with conditions: pre-approved like `approval.granted`, but trusts see the
    conditions and their deadlines. Also used to reinstate a suspended conditional
    approval."""

    status = constant(ApprovalStatus.CONDITIONAL, "Always `conditional`.")

    @validates_schema
    def _has_conditions(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_decision(DecisionOutcome.CONDITIONAL, data, {
            "dtac": "A failed section cannot be approved.",
            "conditions": "A conditional approval lists its conditions.",
        })


class ApprovalSuspended(ApprovalRefSchema):
    """The approval is paused: trusts must not place new orders for this product version
    until it is reinstated (a new `approval.granted`/`approval.conditional`)."""

    status = constant(ApprovalStatus.SUSPENDED, "Always `suspended`.")
    previous_status = Choice(PRE_APPROVED_STATUSES, "Status before the suspension.")
    reason_code = Choice(ACTION_REASONS, "Why, as a code.")
    reason = Text("Why, as the assessor states it (no personal data).", max_length=1000)
    suspended_at = Timestamp("When the suspension took effect.")


class ApprovalRevoked(ApprovalRefSchema):
    """The approval is withdrawn for good; trusts remove the product version from their
    register. A new approval needs a new submission."""

    status = constant(ApprovalStatus.REVOKED, "Always `revoked`.")
    reason_code = Choice(ACTION_REASONS, "Why, as a code.")
    reason = Text("Why, as the assessor states it (no personal data).", max_length=1000)
    revoked_at = Timestamp("When the revocation took effect.")


class ApprovalExpired(ApprovalRefSchema):
    """The approval's evidence lapsed (emitted by `marketplace tick`); the product version
    is no longer pre-approved."""

    status = constant(ApprovalStatus.EXPIRED, "Always `expired`.")
    expires_at = Timestamp("The expiry that was reached.")
    expired_at = Timestamp("When the marketplace recorded the expiry.")
    lapsed_evidence = fields.List(Choice(EVIDENCE_KINDS), validate=validate.Length(min=1),
                                  **doc("Which evidence lapsed."))


_REF_EXAMPLE: dict[str, Any] = {
    "approval_id": EX_APPROVAL,
    "innovation_id": EX_INNOVATION,
    "innovator_org_id": EX_INNOVATOR_ORG,
    "product_version": "3.2",
}
_DECISION_EXAMPLE: dict[str, Any] = {
    **_REF_EXAMPLE,
    "innovator_companies_house_number": EX_INNOVATOR_CH,
    "assessor_org_id": EX_ASSESSOR_ORG,
    "dtac": {"c1": "pass", "c2": "pass", "c3": "pass", "c4": "pass", "d": "pass",
             "d_score": 86},
    "dspt_status": "standards_met",
    "dspt_year": "2025-26",
    "cyber_essentials_level": "cyber_essentials_plus",
    "cyber_essentials_expires_on": "2027-02-28",
    "penetration_test_on": "2026-01-14",
    "device_class": "IIa",
    "device_mark": "UKCA",
    "device_certificate_expires_on": "2029-06-30",
    "nice_esf_tier": "C",
    "nice_route": "early_value_assessment",
    "conditions": [],
    "decided_at": "2026-03-20T16:45:00+00:00",
    "expires_at": "2027-02-28T23:59:59+00:00",
    "reinstated": False,
}
GRANTED_EXAMPLE: dict[str, Any] = {**_DECISION_EXAMPLE, "status": "approved"}
CONDITIONAL_EXAMPLE: dict[str, Any] = {
    **_DECISION_EXAMPLE,
    "status": "conditional",
    "dtac": {**_DECISION_EXAMPLE["dtac"], "c4": "conditional"},
    "conditions": [{"condition_id": "1", "text": "Publish a FHIR UK Core "
                    "ServiceRequest interface for referral import.", "due_on": "2026-09-30"}],
}
SUSPENDED_EXAMPLE: dict[str, Any] = {
    **_REF_EXAMPLE,
    "status": "suspended",
    "previous_status": "approved",
    "reason_code": "safety_concern",
    "reason": "Field safety notice FSN-2026-014 under investigation.",
    "suspended_at": "2026-08-04T10:00:00+01:00",
}
REVOKED_EXAMPLE: dict[str, Any] = {
    **_REF_EXAMPLE,
    "status": "revoked",
    "reason_code": "regulatory_action",
    "reason": "UKCA certificate withdrawn by the approved body.",
    "revoked_at": "2026-09-01T09:00:00+01:00",
}
EXPIRED_EXAMPLE: dict[str, Any] = {
    **_REF_EXAMPLE,
    "status": "expired",
    "expires_at": "2027-02-28T23:59:59+00:00",
    "expired_at": "2027-03-01T00:05:00+00:00",
    "lapsed_evidence": ["cyber_essentials"],
}
