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
    NICE_ROUTES,
    DtacResultsSchema,
)
from schemas.events.common import DEVICE_CLASSES, DEVICE_MARKS, ESF_TIERS
from schemas.fields import FullMatch

#: ICO data protection register numbers, e.g. ZA123456 or Z1234567.
ICO_REGISTRATION_PATTERN = r"^Z[A-Z0-9][0-9]{6}$"
APPROVAL_STATUSES = ("submitted", "under_review", "approved", "conditional", "rejected",
                     "suspended", "revoked", "expired")
WCAG_LEVELS = ("A", "AA", "AAA")


def _d(text: str, **kwargs: Any) -> dict[str, Any]:
    return {"metadata": {"description": text}, **kwargs}


def _evidence(text: str, *, required: bool = True) -> fields.String:
    extra = {"required": True} if required else {"load_default": None, "allow_none": True}
    return fields.String(validate=validate.Length(min=1, max=36),
                         **_d(f"{text} (an evidence document id of this listing).", **extra))


def _optional_text(max_length: int, text: str) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), load_default=None,
                         allow_none=True, **_d(text))


class ClinicalSafety(Schema):
    """C1 clinical safety (DCB0129)."""

    safety_case_evidence_id = _evidence("DCB0129 clinical safety case report")
    hazard_log_evidence_id = _evidence("Hazard log")
    clinical_safety_officer = fields.String(required=True,
                                            validate=validate.Length(min=1, max=200),
                                            **_d("Name of the clinical safety officer."))
    clinical_safety_officer_registration = fields.String(
        required=True, validate=validate.Length(min=1, max=50),
        **_d("Their professional registration, e.g. `GMC 7654321`."))


class DataProtection(Schema):
    """C2 data protection."""

    ico_registration = fields.String(required=True, validate=FullMatch(ICO_REGISTRATION_PATTERN),
                                     **_d("ICO data protection register number."))
    dpia_evidence_id = _evidence("Data protection impact assessment")
    dspt_status = fields.String(required=True, validate=validate.OneOf(DSPT_STATUSES),
                                **_d("Data Security and Protection Toolkit status."))
    dspt_year = fields.String(required=True, validate=FullMatch(r"^20[0-9]{2}-[0-9]{2}$"),
                              **_d("DSPT publication year, e.g. 2025-26; it stands until "
                                   "the next year's 30 June deadline."))


class TechnicalSecurity(Schema):
    """C3 technical security."""

    cyber_essentials_level = fields.String(required=True,
                                           validate=validate.OneOf(CYBER_ESSENTIALS_LEVELS))
    cyber_essentials_expires_on = fields.Date(required=True,
                                              **_d("Expiry of the Cyber Essentials "
                                                   "certificate."))
    penetration_test_on = fields.Date(load_default=None, allow_none=True,
                                      **_d("Date of the last penetration test (valid a "
                                           "year)."))
    penetration_test_evidence_id = _evidence("Penetration test report", required=False)
    mfa_enabled = fields.Boolean(required=True,
                                 **_d("Multi-factor authentication for privileged and "
                                      "remote access."))


class Interoperability(Schema):
    """C4 interoperability."""

    interoperability_standards = fields.List(
        fields.String(validate=validate.Length(min=1, max=100)), load_default=list,
        validate=validate.Length(max=20), **_d("Standards met, e.g. `FHIR UK Core`."))
    interoperability_notes = _optional_text(2000, "How the product integrates.")


class UsabilityAccessibility(Schema):
    """D usability and accessibility."""

    wcag_level = fields.String(required=True, validate=validate.OneOf(WCAG_LEVELS),
                               **_d("WCAG 2.2 conformance level claimed."))
    accessibility_notes = _optional_text(2000, "Accessibility statement or audit summary.")


class Device(Schema):
    """Medical device regulation (MHRA, UK MDR 2002)."""

    device_class = fields.String(required=True, validate=validate.OneOf(DEVICE_CLASSES))
    device_mark = fields.String(required=True, validate=validate.OneOf(DEVICE_MARKS))
    device_certificate_expires_on = fields.Date(load_default=None, allow_none=True,
                                                **_d("Required for a device."))
    device_certificate_evidence_id = _evidence("Conformity certificate", required=False)


class Nice(Schema):
    """NICE Evidence Standards Framework and evaluation route."""

    nice_esf_tier = fields.String(required=True, validate=validate.OneOf(ESF_TIERS))
    nice_route = fields.String(load_default=None, allow_none=True,
                               validate=validate.OneOf(NICE_ROUTES))
    nice_recommendation = _optional_text(1000, "NICE recommendation, if any.")


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
    {name: fields.Nested(schema, required=True, **_d(schema.__doc__ or ""))
     for name, schema in SECTIONS.items()}, name="ApprovalSubmission")


class ConditionIn(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=1000))
    due_on = fields.Date(load_default=None, allow_none=True,
                         **_d("Deadline (Europe/London); the approval expires if it passes."))


class DecisionIn(Schema):
    """An assessor's decision on a submission under review."""

    outcome = fields.String(required=True,
                            validate=validate.OneOf(("approved", "conditional", "rejected")))
    dtac = fields.Nested(DtacResultsSchema, required=True, **_d("Result per DTAC section."))
    conditions = fields.List(fields.Nested(ConditionIn), load_default=list,
                             validate=validate.Length(max=20),
                             **_d("Required for conditional, empty for approved."))
    notes = _optional_text(2000, "Assessor's notes; required for a rejection.")
    nice_esf_tier = fields.String(load_default=None, allow_none=True,
                                  validate=validate.OneOf(ESF_TIERS),
                                  **_d("Tier as assessed, if it differs from the claim."))
    nice_recommendation = _optional_text(1000, "NICE recommendation, if known now.")


class ActionIn(Schema):
    """Suspension or revocation: why, as a code and in words (no personal data)."""

    reason_code = fields.String(required=True, validate=validate.OneOf(ACTION_REASONS))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class ReinstateIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000),
                           **_d("Why the suspension is lifted."))


class ConditionOut(Schema):
    condition_id = fields.String()
    text = fields.String()
    due_on = fields.String(allow_none=True, **_d("YYYY-MM-DD, or null: no deadline"))


class ApprovalQuery(Schema):
    status = fields.String(validate=validate.OneOf(APPROVAL_STATUSES))
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
    status = fields.String(validate=validate.OneOf(APPROVAL_STATUSES))
    previous_status = fields.String(allow_none=True,
                                    **_d("While suspended: the status to reinstate."))
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
    dtac = fields.Nested(DtacResultsSchema, allow_none=True,
                         **_d("Assessed result per section; null until decided."))
    conditions = fields.List(fields.Nested(ConditionOut))
    decision_notes = fields.String(allow_none=True)
    evidence_expiries = fields.Dict(keys=fields.String(), values=fields.String(),
                                    **_d("evidence kind: when it lapses"))
    expires_at = fields.AwareDateTime(**_d("The earliest expiry of the evidence."))
    lapsed_evidence = fields.List(fields.String(), allow_none=True)
    version = fields.Integer()

    @pre_dump
    def _sections(self, approval: Any, **kwargs: Any) -> Any:
        return _Grouped(approval)
