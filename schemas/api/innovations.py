"""API bodies for catalogue listings (``/api/v1/innovations``) and their evidence files."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from schemas.api.organisations import OrganisationRef
from schemas.events.common import DEVICE_CLASSES, DEVICE_MARKS, ESF_TIERS, PATHWAY_STAGES
from schemas.events.innovations import PRICING_MODELS
from schemas.fields import Choice, Pattern, Text, doc
from schemas.statuses import ListingStatus, words

#: ``cancer.triage``: lower-case words joined by dots, most general first.
CATEGORY_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+){0,4}$"
PRODUCT_VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,49}$"
#: A file name as given (shown on download, any script): no paths, quotes, control
#: characters (C0, DEL, C1), bidirectional controls (which make ``exe.pdf`` of
#: ``fdp.exe``: U+061C, U+200E, U+200F, U+202A-U+202E, U+2066-U+2069) or line and
#: paragraph separators (U+2028, U+2029).
FILENAME_PATTERN = (r'^[^/\\"\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e'
                    r'\u2066-\u2069]{1,255}$')
MEDIA_TYPE_PATTERN = r"^[a-z]+/[a-z0-9.+-]{1,80}$"
LISTING_STATUSES = words(ListingStatus)
#: The statuses a listing update may ask for: publish a draft, or withdraw.
LISTING_STATUS_CHANGES = words((ListingStatus.PUBLISHED, ListingStatus.WITHDRAWN))
EVIDENCE_DOCUMENT_KINDS: tuple[str, ...] = (
    "dcb0129_safety_case", "hazard_log", "dpia", "dspt_assessment",
    "cyber_essentials_certificate", "penetration_test_report", "device_certificate",
    "declaration_of_conformity", "clinical_evidence", "economic_evidence",
    "accessibility_audit", "interoperability_statement", "other",
)
SORTS = ("relevance", "recent")


def _listing_fields(required: bool) -> dict[str, fields.Field]:
    """The editable fields: required on create, each optional on update."""
    req = {"required": required}
    # Lists are never required; on create an absent one loads as empty.
    listed = {"required": False, **({"load_default": list} if required else {})}
    return {
        "name": Text("Product name as listed.", **req),
        "summary": Text("Public summary of what the product does.", max_length=2000, **req),
        "product_version": Pattern(
            PRODUCT_VERSION_PATTERN,
            "Current product version; a new version needs a new approval.", **req),
        "categories": fields.List(
            Pattern(CATEGORY_PATTERN), validate=validate.Length(min=1, max=10),
            **doc("Catalogue categories, e.g. `cancer.triage`.", **req)),
        "pathway_stages": fields.List(
            Choice(PATHWAY_STAGES), validate=validate.Length(max=len(PATHWAY_STAGES)),
            **doc("Care-pathway stages served (cancer: prevention, referral_triage, "
                  "diagnosis, treatment, follow_up).", **listed)),
        "use_cases": fields.List(
            Text(max_length=200), validate=validate.Length(max=20),
            **doc("Use cases, e.g. `AI triage`, `patient education videos`.", **listed)),
        "esf_tier": Choice(ESF_TIERS, "NICE Evidence Standards Framework tier claimed.", **req),
        "device_class": Choice(DEVICE_CLASSES, "MHRA (UK MDR) device class, or not_a_device.",
                               **req),
        "device_mark": Choice(DEVICE_MARKS, "Conformity mark; `none` if not a device.", **req),
        "pricing_model": Choice(PRICING_MODELS, "How the product is charged for.", **req),
    }


InnovationCreate = Schema.from_dict(_listing_fields(required=True), name="InnovationCreate")
InnovationCreate.__doc__ = "A new draft listing, owned by the caller's organisation."

InnovationUpdate = Schema.from_dict({
    **_listing_fields(required=False),
    "status": Choice(LISTING_STATUS_CHANGES, "`published` lists a draft; `withdrawn` "
                     "removes the listing for good.", required=False),
    "withdrawal_reason": Text("Why, when withdrawing (public).", max_length=1000,
                              required=False),
}, name="InnovationUpdate")


class InnovationQuery(Schema):
    q = fields.String(validate=validate.Length(max=200),
                      **doc("words searched in name, summary and use cases (all required, "
                            "last one as a prefix)", required=False))
    category = Pattern(CATEGORY_PATTERN, required=False)
    pathway = Choice(PATHWAY_STAGES, required=False)
    esf_tier = Choice(ESF_TIERS, required=False)
    device_class = Choice(DEVICE_CLASSES, required=False)
    # fields.Boolean, not Flag: query strings say true/false/1/0 as text.
    approved = fields.Boolean(**doc("true: pre-approved now (a live approval of the "
                                    "current version)", required=False))
    sort = Choice(SORTS, "relevance (default with q) or recent", required=False)
    mine = fields.Boolean(**doc("innovators: your own listings, drafts and withdrawn "
                                "included", required=False, load_default=False))


class ApprovalSummary(Schema):
    id = fields.String()
    product_version = fields.String()
    status = fields.String()
    expires_at = fields.AwareDateTime()


class InnovationOut(Schema):
    id = fields.String()
    organisation = fields.Nested(OrganisationRef)
    status = Choice(LISTING_STATUSES, required=False)
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
        ApprovalSummary, **doc("latest approval of the current product version; "
                               "pre-approved while approved/conditional and unexpired",
                               required=False, allow_none=True))
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

    kind = Choice(EVIDENCE_DOCUMENT_KINDS)
    title = Text()
    filename = Pattern(FILENAME_PATTERN, error="Not a file name: 1 to 255 characters, no "
                       "slashes, quotes, control, bidirectional-control or line-separator "
                       "characters.")
    media_type = Pattern(MEDIA_TYPE_PATTERN, required=False, load_default="application/pdf")
    content = Base64Bytes(data_key="content_base64", **doc("the file, base64 encoded"))


class EvidenceOut(Schema):
    id = fields.String()
    innovation_id = fields.String()
    kind = fields.String()
    title = fields.String()
    filename = fields.String()
    media_type = fields.String()
    size_bytes = fields.Integer()
    sha256 = fields.String(**doc("SHA-256 of the file, hex", required=False))
    uploaded_at = fields.AwareDateTime()
    download = fields.Method("_download")

    def _download(self, document: Any) -> str:
        return f"/api/v1/innovations/{document.innovation_id}/evidence/{document.id}"
