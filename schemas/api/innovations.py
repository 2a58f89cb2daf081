"""API bodies for catalogue listings (``/api/v1/innovations``) and their evidence files."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from schemas.api.organisations import OrganisationRef
from schemas.events.common import DEVICE_CLASSES, DEVICE_MARKS, ESF_TIERS, PATHWAY_STAGES
from schemas.events.innovations import PRICING_MODELS
from schemas.fields import FullMatch

#: ``cancer.triage``: lower-case words joined by dots, most general first.
CATEGORY_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+){0,4}$"
PRODUCT_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$"
#: A file name as given (shown on download): no paths, quotes or control characters.
FILENAME_PATTERN = r'^[^/\\"\x00-\x1f\x7f]{1,255}$'
MEDIA_TYPE_PATTERN = r"^[a-z]+/[a-z0-9.+-]{1,80}$"
LISTING_STATUSES = ("draft", "published", "withdrawn")
EVIDENCE_DOCUMENT_KINDS: tuple[str, ...] = (
    "dcb0129_safety_case", "hazard_log", "dpia", "dspt_assessment",
    "cyber_essentials_certificate", "penetration_test_report", "device_certificate",
    "declaration_of_conformity", "clinical_evidence", "economic_evidence",
    "accessibility_audit", "interoperability_statement", "other",
)
SORTS = ("relevance", "recent")


def _d(text: str) -> dict[str, Any]:
    return {"metadata": {"description": text}}


def _listing_fields(required: bool) -> dict[str, fields.Field]:
    """The editable fields: required on create, each optional on update."""
    req = {"required": required}
    return {
        "name": fields.String(validate=validate.Length(min=1, max=200), **req,
                              **_d("Product name as listed.")),
        "summary": fields.String(validate=validate.Length(min=1, max=2000), **req,
                                 **_d("Public summary of what the product does.")),
        "product_version": fields.String(
            validate=FullMatch(PRODUCT_VERSION_PATTERN), **req,
            **_d("Current product version; a new version needs a new approval.")),
        "categories": fields.List(
            fields.String(validate=FullMatch(CATEGORY_PATTERN)),
            validate=validate.Length(min=1, max=10), **req,
            **_d("Catalogue categories, e.g. `cancer.triage`.")),
        "pathway_stages": fields.List(
            fields.String(validate=validate.OneOf(PATHWAY_STAGES)),
            validate=validate.Length(max=len(PATHWAY_STAGES)),
            **({"load_default": list} if required else {}),
            **_d("Care-pathway stages served (cancer: prevention, referral_triage, "
                 "diagnosis, treatment, follow_up).")),
        "use_cases": fields.List(
            fields.String(validate=validate.Length(min=1, max=200)),
            validate=validate.Length(max=20), **({"load_default": list} if required else {}),
            **_d("Use cases, e.g. `AI triage`, `patient education videos`.")),
        "esf_tier": fields.String(validate=validate.OneOf(ESF_TIERS), **req,
                                  **_d("NICE Evidence Standards Framework tier claimed.")),
        "device_class": fields.String(validate=validate.OneOf(DEVICE_CLASSES), **req,
                                      **_d("MHRA (UK MDR) device class, or not_a_device.")),
        "device_mark": fields.String(validate=validate.OneOf(DEVICE_MARKS), **req,
                                     **_d("Conformity mark; `none` if not a device.")),
        "pricing_model": fields.String(validate=validate.OneOf(PRICING_MODELS), **req,
                                       **_d("How the product is charged for.")),
    }


InnovationCreate = Schema.from_dict(_listing_fields(required=True), name="InnovationCreate")
InnovationCreate.__doc__ = "A new draft listing, owned by the caller's organisation."

InnovationUpdate = Schema.from_dict({
    **_listing_fields(required=False),
    "status": fields.String(validate=validate.OneOf(("published", "withdrawn")),
                            **_d("`published` lists a draft; `withdrawn` removes the "
                                 "listing for good.")),
    "withdrawal_reason": fields.String(validate=validate.Length(min=1, max=1000),
                                       **_d("Why, when withdrawing (public).")),
}, name="InnovationUpdate")


class InnovationQuery(Schema):
    q = fields.String(validate=validate.Length(max=200),
                      metadata={"description": "words searched in name, summary and use "
                                               "cases (all required, last one as a prefix)"})
    category = fields.String(validate=FullMatch(CATEGORY_PATTERN))
    pathway = fields.String(validate=validate.OneOf(PATHWAY_STAGES))
    esf_tier = fields.String(validate=validate.OneOf(ESF_TIERS))
    device_class = fields.String(validate=validate.OneOf(DEVICE_CLASSES))
    approved = fields.Boolean(metadata={"description": "true: pre-approved now (a live "
                                                       "approval of the current version)"})
    sort = fields.String(validate=validate.OneOf(SORTS),
                         metadata={"description": "relevance (default with q) or recent"})
    mine = fields.Boolean(load_default=False,
                          metadata={"description": "innovators: your own listings, drafts "
                                                   "and withdrawn included"})


class ApprovalSummary(Schema):
    id = fields.String()
    product_version = fields.String()
    status = fields.String()
    expires_at = fields.AwareDateTime()


class InnovationOut(Schema):
    id = fields.String()
    organisation = fields.Nested(OrganisationRef)
    status = fields.String(validate=validate.OneOf(LISTING_STATUSES))
    name = fields.String()
    summary = fields.String()
    product_version = fields.String()
    categories = fields.List(fields.String())
    pathway_stages = fields.List(fields.String())
    use_cases = fields.List(fields.String())
    esf_tier = fields.String()
    device_class = fields.String()
    device_mark = fields.String()
    pricing_model = fields.String()
    current_approval = fields.Nested(
        ApprovalSummary, allow_none=True,
        metadata={"description": "latest approval of the current product version; "
                                 "pre-approved while approved/conditional and unexpired"})
    created_at = fields.AwareDateTime()
    updated_at = fields.AwareDateTime()
    published_at = fields.AwareDateTime(allow_none=True)
    withdrawn_at = fields.AwareDateTime(allow_none=True)
    withdrawal_reason = fields.String(allow_none=True)
    version = fields.Integer()


class Base64Bytes(fields.String):
    """File content as standard base64; loads to bytes."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bytes:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValidationError("Not valid base64.") from exc


class EvidenceUpload(Schema):
    """An evidence file, sent as base64 inside JSON (the body limit is MAX_CONTENT_LENGTH)."""

    kind = fields.String(required=True, validate=validate.OneOf(EVIDENCE_DOCUMENT_KINDS))
    title = fields.String(required=True, validate=validate.Length(min=1, max=200))
    filename = fields.String(required=True, validate=FullMatch(FILENAME_PATTERN))
    media_type = fields.String(load_default="application/pdf",
                               validate=FullMatch(MEDIA_TYPE_PATTERN))
    content = Base64Bytes(required=True, data_key="content_base64",
                          metadata={"description": "the file, base64 encoded"})


class EvidenceOut(Schema):
    id = fields.String()
    innovation_id = fields.String()
    kind = fields.String()
    title = fields.String()
    filename = fields.String()
    media_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String(metadata={"description": "SHA-256 of the file, hex"})
    uploaded_at = fields.AwareDateTime()
    download = fields.Method("_download")

    def _download(self, document: Any) -> str:
        return f"/api/v1/innovations/{document.innovation_id}/evidence/{document.id}"
