"""API bodies for central approvals (``/api/v1/approvals``), grouped as DTAC v2 sections.

A submission names evidence documents uploaded to the listing first
(``POST /innovations/{id}/evidence``). Field names match the approval events
(``dspt_status``, ``device_class``, ``nice_route``...), so API and events read alike.
"""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, pre_dump, validate

from schemas.api.organisations import OrganisationRef
from schemas.events.approvals import (
    ACTION_REASONS,
    CYBER_ESSENTIALS_LEVELS,
    DSPT_STATUSES,
    DSPT_YEAR_PATTERN,
    NICE_ROUTES,
    DtacResultsSchema,
)
from schemas.events.common import DEVICE_CLASSES, DEVICE_MARKS, ESF_TIERS
from schemas.fields import Choice, Day, Pattern, Text, doc
from schemas.statuses import ApprovalStatus, DecisionOutcome, words

#: ICO data protection register numbers, e.g. ZA123456 or Z1234567.
ICO_REGISTRATION_PATTERN = r"^Z[A-Z0-9][0-9]{6}$"
APPROVAL_STATUSES = words(ApprovalStatus)
DECISION_OUTCOMES = words(DecisionOutcome)
WCAG_LEVELS = ("A", "AA", "AAA")


def _evidence(text: str, *, required: bool = True) -> Text:
    return Text(f"{text} (an evidence document id of this listing).", max_length=36,
                optional=not required)


class ClinicalSafety(Schema):
    """C1 clinical safety (DCB0129)."""

    safety_case_evidence_id = _evidence("DCB0129 clinical safety case report")
    hazard_log_evidence_id = _evidence("Hazard log")
    clinical_safety_officer = Text("Name of the clinical safety officer.")
    clinical_safety_officer_registration = Text(
        "Their professional registration, e.g. `GMC 7654321`.", max_length=50)


class DataProtection(Schema):
    """C2 data protection."""

    ico_registration = Pattern(ICO_REGISTRATION_PATTERN, "ICO data protection register number.")
    dpia_evidence_id = _evidence("Data protection impact assessment")
    dspt_status = Choice(DSPT_STATUSES, "Data Security and Protection Toolkit status.")
    dspt_year = Pattern(DSPT_YEAR_PATTERN, "DSPT publication year, e.g. 2025-26; it stands "
                        "until the next year's 30 June deadline.")


class TechnicalSecurity(Schema):
    """C3 technical security."""

    cyber_essentials_level = Choice(CYBER_ESSENTIALS_LEVELS)
    cyber_essentials_expires_on = Day("Expiry of the Cyber Essentials certificate.")
    penetration_test_on = Day("Date of the last penetration test (valid a year).",
                              optional=True)
    penetration_test_evidence_id = _evidence("Penetration test report", required=False)
    # fields.Boolean, not Flag: the API has always accepted 1/0 and "true"/"false" here.
    mfa_enabled = fields.Boolean(**doc("Multi-factor authentication for privileged and "
                                       "remote access."))


class Interoperability(Schema):
    """C4 interoperability."""

    interoperability_standards = fields.List(
        Text(max_length=100), validate=validate.Length(max=20),
        **doc("Standards met, e.g. `FHIR UK Core`.", required=False, load_default=list))
    interoperability_notes = Text("How the product integrates.", max_length=2000,
                                  optional=True)


class UsabilityAccessibility(Schema):
    """D usability and accessibility."""

    wcag_level = Choice(WCAG_LEVELS, "WCAG 2.2 conformance level claimed.")
    accessibility_notes = Text("Accessibility statement or audit summary.", max_length=2000,
                               optional=True)


class Device(Schema):
    """Medical device regulation (MHRA, UK MDR 2002)."""

    device_class = Choice(DEVICE_CLASSES)
    device_mark = Choice(DEVICE_MARKS)
    device_certificate_expires_on = Day("Required for a device.", optional=True)
    device_certificate_evidence_id = _evidence("Conformity certificate", required=False)


class Nice(Schema):
    """NICE Evidence Standards Framework and evaluation route."""

    nice_esf_tier = Choice(ESF_TIERS)
    nice_route = Choice(NICE_ROUTES, optional=True)
    nice_recommendation = Text("NICE recommendation, if any.", max_length=1000, optional=True)


#: Body section -> its schema; the approval stores the sections' fields flat.
SECTIONS: dict[str, type[Schema]] = {
    "c1_clinical_safety": ClinicalSafety,
    "c2_data_protection": DataProtection,
    "c3_technical_security": TechnicalSecurity,
    "c4_interoperability": Interoperability,
    "d_usability_accessibility": UsabilityAccessibility,
    "device": Device,
    "nice": Nice,
}

ApprovalSubmission = Schema.from_dict(
    {name: fields.Nested(schema, **doc(schema.__doc__ or ""))
     for name, schema in SECTIONS.items()}, name="ApprovalSubmission")


class ConditionIn(Schema):
    text = Text(max_length=1000)
    due_on = Day("Deadline (Europe/London); the approval expires if it passes.",
                 optional=True)


class DecisionIn(Schema):
    """An assessor's decision on a submission under review."""

    outcome = Choice(DECISION_OUTCOMES)
    dtac = fields.Nested(DtacResultsSchema, **doc("Result per DTAC section."))
    conditions = fields.List(fields.Nested(ConditionIn), validate=validate.Length(max=20),
                             **doc("Required for conditional, empty for approved.",
                                   required=False, load_default=list))
    notes = Text("Assessor's notes; required for a rejection.", max_length=2000,
                 optional=True)
    nice_esf_tier = Choice(ESF_TIERS, "Tier as assessed, if it differs from the claim.",
                           optional=True)
    nice_recommendation = Text("NICE recommendation, if known now.", max_length=1000,
                               optional=True)


class ActionIn(Schema):
    """Suspension or revocation: why, as a code and in words (no personal data)."""

    reason_code = Choice(ACTION_REASONS)
    reason = Text(max_length=1000)


class ReinstateIn(Schema):
    reason = Text("Why the suspension is lifted.", max_length=1000)


class ConditionOut(Schema):
    condition_id = fields.String()
    text = fields.String()
    due_on = fields.String(**doc("YYYY-MM-DD, or null: no deadline", required=False,
                                 allow_none=True))


class ApprovalQuery(Schema):
    status = Choice(APPROVAL_STATUSES, required=False)
    innovation_id = fields.String(validate=validate.Length(max=36))
    product_version = fields.String(validate=validate.Length(max=50))


class _Grouped:
    """Reads an approval's flat fields, and each section name as the approval itself."""

    def __init__(self, approval: Any) -> None:
        self._approval = approval

    def __getattr__(self, name: str) -> Any:
        return self._approval if name in SECTIONS else getattr(self._approval, name)


class ApprovalOut(Schema):
    id = fields.String()
    innovation_id = fields.String()
    innovator = fields.Nested(OrganisationRef, attribute="organisation")
    product_version = fields.String()
    status = Choice(APPROVAL_STATUSES, required=False)
    previous_status = fields.String(**doc("While suspended: the status to reinstate.",
                                          required=False, allow_none=True))
    submitted_at = fields.AwareDateTime()
    review_started_at = fields.AwareDateTime(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    assessor = fields.Nested(OrganisationRef, attribute="assessor_organisation",
                             allow_none=True)
    status_changed_at = fields.AwareDateTime()
    reason_code = fields.String(allow_none=True)
    reason = fields.String(allow_none=True)
    c1_clinical_safety = fields.Nested(ClinicalSafety)
    c2_data_protection = fields.Nested(DataProtection)
    c3_technical_security = fields.Nested(TechnicalSecurity)
    c4_interoperability = fields.Nested(Interoperability)
    d_usability_accessibility = fields.Nested(UsabilityAccessibility)
    device = fields.Nested(Device)
    nice = fields.Nested(Nice)
    dtac = fields.Nested(DtacResultsSchema, **doc("Assessed result per section; null until "
                                                  "decided.", required=False, allow_none=True))
    conditions = fields.List(fields.Nested(ConditionOut))
    decision_notes = fields.String(allow_none=True)
    evidence_expiries = fields.Dict(keys=fields.String(), values=fields.String(),
                                    **doc("evidence kind: when it lapses", required=False))
    expires_at = fields.AwareDateTime(**doc("The earliest expiry of the evidence.",
                                            required=False))
    lapsed_evidence = fields.List(fields.String(), allow_none=True)
    version = fields.Integer()

    @pre_dump
    def _sections(self, approval: Any, **kwargs: Any) -> Any:
        return _Grouped(approval)
