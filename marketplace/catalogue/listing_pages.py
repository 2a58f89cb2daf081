"""The innovator's own listings: ``/my/innovations`` (drafts included), listing an
innovation and publishing it, the demand it matches, its evidence files and its
submission for central approval.

Each view loads its form with the API's schema, calls the one service function the API
endpoint calls (in a unit of work acting as the signed-in person) and renders; the rules
(who owns a listing, what may be published, what evidence an approval needs) are the
services'.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, abort, redirect, request
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from marketplace.approvals import service as approvals
from marketplace.catalogue import evidence
from marketplace.catalogue import search as catalogue_search
from marketplace.catalogue import service as innovations
from marketplace.catalogue.pages import DTAC_SECTIONS, _approval_view
from marketplace.demand import matching
from marketplace.demand.lifecycle import SignalStatus
from marketplace.demand.models import DemandSignal
from marketplace.http.pagination import paginate
from marketplace.http.wiring import marketplace_of
from marketplace.kernel.errors import InvalidInput
from marketplace.web.formatting import formatting, label
from marketplace.web.forms import Errors, body, domain_errors, load
from marketplace.web.pages import current_actor, render, unit_of_work
from schemas.api.approvals import SECTIONS, ApprovalSubmission
from schemas.api.demand import DemandSignalOut
from schemas.api.innovations import (
    EVIDENCE_DOCUMENT_KINDS,
    EvidenceOut,
    EvidenceUpload,
    InnovationCreate,
    InnovationOut,
    InnovationUpdate,
)
from schemas.events.approvals import CYBER_ESSENTIALS_LEVELS, DSPT_STATUSES, NICE_ROUTES
from schemas.events.common import DEVICE_CLASSES, DEVICE_MARKS, ESF_TIERS, PATHWAY_STAGES
from schemas.events.innovations import PRICING_MODELS

bp = Blueprint("listing_pages", __name__)

PER_PAGE = 50
#: Field labels for the error summary (the form's own labels).
LISTING_LABELS = {"name": "Product name", "summary": "Summary",
                  "product_version": "Product version", "categories": "Categories",
                  "pathway_stages": "Pathway stages", "use_cases": "Use cases",
                  "esf_tier": "NICE evidence standards tier",
                  "device_class": "Medical device class", "device_mark": "Conformity mark",
                  "pricing_model": "Pricing model"}
EVIDENCE_LABELS = {"kind": "Kind of document", "title": "Title", "filename": "File",
                   "media_type": "File", "content": "File", "content_base64": "File"}
APPROVAL_LABELS = {
    "safety_case_evidence_id": "Clinical safety case (DCB0129)",
    "hazard_log_evidence_id": "Hazard log",
    "clinical_safety_officer": "Clinical safety officer",
    "clinical_safety_officer_registration": "Their professional registration",
    "ico_registration": "ICO registration number",
    "dpia_evidence_id": "Data protection impact assessment",
    "dspt_status": "DSPT status", "dspt_year": "DSPT year",
    "cyber_essentials_level": "Cyber Essentials level",
    "cyber_essentials_expires_on": "Cyber Essentials certificate expires on",
    "penetration_test_on": "Last penetration test on",
    "penetration_test_evidence_id": "Penetration test report",
    "mfa_enabled": "Multi-factor authentication",
    "interoperability_standards": "Interoperability standards",
    "interoperability_notes": "How the product integrates",
    "wcag_level": "WCAG 2.2 level claimed", "accessibility_notes": "Accessibility statement",
    "device_class": "Medical device class", "device_mark": "Conformity mark",
    "device_certificate_expires_on": "Device certificate expires on",
    "device_certificate_evidence_id": "Conformity certificate",
    "nice_esf_tier": "NICE evidence standards tier", "nice_route": "NICE evaluation route",
    "nice_recommendation": "NICE recommendation"}




def page(template: str, title: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """:func:`render` with the helpers these templates use."""
    return render(template, title, status=status, **{**formatting(), **context})


def options(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(v, label(v)) for v in values]


def innovator_only() -> Response | None:
    """Anonymous: to the sign-in page and back; another role: 403."""
    actor = current_actor()
    if actor.is_anonymous:
        return redirect(f"/sign-in?next={quote(request.full_path.rstrip('?'))}", 303)
    if str(actor.role) != "innovator":
        abort(403)
    return None


def _evidence_dir() -> Path:
    return Path(marketplace_of().settings.evidence_dir)


def _split(text: str | None, lines_only: bool = False) -> list[str]:
    pattern = r"[\r\n]+" if lines_only else r"[,\r\n]+"
    return [part.strip() for part in re.split(pattern, text or "") if part.strip()]


# --- your listings ------------------------------------------------------------------
@bp.get("/my/innovations")
def my_listings() -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        found = paginate(uow.session, catalogue_search.search(uow, mine=True),
                         InnovationOut(), 1, PER_PAGE)
    return page("innovator/listings.html", "Your listings", found=found)


def _listing_form(values: Any, errors: Errors, status: int = 200) -> tuple[str, int]:
    return page("innovator/new_listing.html", "List an innovation", status=status,
                  values=values, errors=errors, labels=LISTING_LABELS,
                  stages=options(PATHWAY_STAGES), tiers=[(t, f"Tier {t}") for t in ESF_TIERS],
                  classes=options(DEVICE_CLASSES), marks=[(m, m if m != "none" else "None")
                                                         for m in DEVICE_MARKS],
                  pricing=options(PRICING_MODELS))


@bp.get("/my/innovations/new")
def new_listing() -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _listing_form(MultiDict(), {})


@bp.post("/my/innovations/new")
def create_listing() -> Any:
    if (away := innovator_only()) is not None:
        return away
    data = body(request.form, lists=("pathway_stages",))
    data["categories"] = _split(request.form.get("categories"))
    data["use_cases"] = _split(request.form.get("use_cases"), lines_only=True)
    loaded, errors = load(InnovationCreate, data)
    if errors:
        return _listing_form(request.form, errors, 422)
    try:
        with unit_of_work() as uow:
            listing = innovations.create(uow, **loaded)
            uow.commit()
            listing_id = listing.id
    except InvalidInput as exc:
        return _listing_form(request.form, domain_errors(exc), 422)
    return redirect(f"/my/innovations/{listing_id}", 303)


def _own(uow: Any, innovation_id: str) -> Any:
    return innovations.get_own(uow, innovation_id)


@bp.get("/my/innovations/<innovation_id>")
def my_listing(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        listing = _own(uow, innovation_id)
        shown = InnovationOut().dump(listing)
        approval = _approval_view(listing)
    return page("innovator/listing.html", shown["name"], listing=shown, approval=approval,
                  errors={})


@bp.post("/my/innovations/<innovation_id>/publish")
def publish(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    loaded, errors = load(InnovationUpdate, {"status": "published"})
    version = request.form.get("version", "")
    if errors or not version.isdigit():
        abort(400)
    with unit_of_work() as uow:
        innovations.update(uow, innovation_id, expected_version=int(version), **loaded)
        uow.commit()
    return redirect(f"/my/innovations/{innovation_id}", 303)


# --- matching demand ------------------------------------------------------------------
def _near_misses(uow: Any, listing: Any, matched: set[str]) -> list[dict[str, Any]]:
    """The open signals whose near misses (the matching service's own list, with what
    each lacks) include this listing."""
    found = []
    for signal in uow.session.scalars(select(DemandSignal).where(
            DemandSignal.status == SignalStatus.OPEN, DemandSignal.id.not_in(matched))
            .order_by(DemandSignal.posted_at.desc(), DemandSignal.pk.desc())):
        ranking, page = matching.matches(uow, signal.id, near_misses=True), 1
        while True:
            items, total = ranking.page(page, 100)
            mine = next((i for i in items if i["innovation"].id == listing.id), None)
            if mine is not None:
                found.append({"signal": DemandSignalOut().dump(signal),
                              "lacks": mine["lacks"], "reasons": mine["reasons"]})
                break
            if page * 100 >= total:
                break
            page += 1
    return found


@bp.get("/my/innovations/<innovation_id>/demand")
def demand(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    with unit_of_work() as uow:
        listing = _own(uow, innovation_id)
        shown = InnovationOut().dump(listing)
        matches = paginate(uow.session, matching.demand_for(uow, innovation_id),
                           DemandSignalOut(), 1, PER_PAGE)
        near = _near_misses(uow, listing, {m["id"] for m in matches["items"]})
    return page("innovator/demand.html", f"Matching demand for {shown['name']}",
                  listing=shown, matches=matches, near=near)


# --- evidence -------------------------------------------------------------------------
def _documents(uow: Any, innovation_id: str) -> list[dict[str, Any]]:
    return list(EvidenceOut(many=True).dump(
        uow.session.scalars(evidence.documents(uow, innovation_id)).all()))


def _evidence_page(innovation_id: str, values: Any, errors: Errors,
                   status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        listing = InnovationOut().dump(_own(uow, innovation_id))
        documents = _documents(uow, innovation_id)
    return page("innovator/evidence.html", f"Evidence for {listing['name']}",
                  status=status, listing=listing, documents=documents, values=values,
                  errors=errors, labels=EVIDENCE_LABELS,
                  kinds=options(EVIDENCE_DOCUMENT_KINDS))


@bp.get("/my/innovations/<innovation_id>/evidence")
def evidence_page(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _evidence_page(innovation_id, MultiDict(), {})


@bp.post("/my/innovations/<innovation_id>/evidence")
def upload_evidence(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    data = body(request.form)
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        content = upload.read()
        data.update(filename=upload.filename,
                    content_base64=base64.b64encode(content).decode("ascii"))
        if upload.mimetype:
            data["media_type"] = upload.mimetype
    loaded, errors = load(EvidenceUpload, data)
    if upload is None or not upload.filename:
        errors = {**errors, "file": ["Choose the file to upload"]}
        errors.pop("filename", None)
        errors.pop("content_base64", None)
    if errors:
        return _evidence_page(innovation_id, request.form, _file_errors(errors), 422)
    try:
        with unit_of_work() as uow:
            evidence.add(uow, innovation_id, evidence_dir=_evidence_dir(), **loaded)
            uow.commit()
    except InvalidInput as exc:
        return _evidence_page(innovation_id, request.form, _file_errors(domain_errors(exc)),
                              422)
    return redirect(f"/my/innovations/{innovation_id}/evidence", 303)


def _file_errors(errors: Errors) -> Errors:
    """Errors about the file's name, type or bytes belong to the file field."""
    out: Errors = {}
    for field, messages in errors.items():
        key = "file" if field in ("filename", "media_type", "content", "content_base64") \
            else field
        out.setdefault(key, [])
        out[key] = [*out[key], *(messages if isinstance(messages, list) else [messages])]
    return out


# --- submit for central approval ------------------------------------------------------
def _approval_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The form's flat fields as the API's body: one object per DTAC section."""
    flat = body(form, flags=("mfa_enabled",))
    flat["interoperability_standards"] = _split(form.get("interoperability_standards"))
    out: dict[str, Any] = {}
    for section, schema in SECTIONS.items():
        names = schema().fields
        out[section] = {name: flat[name] for name in names if name in flat}
    return out


def _flat_errors(errors: Errors) -> Errors:
    """Nested errors (section -> field) by field, as the form names its fields."""
    out: Errors = {}
    for key, messages in errors.items():
        if isinstance(messages, dict):
            out.update({name: m for name, m in messages.items()})
        else:
            out[key] = messages
    return out


def _approval_form(innovation_id: str, values: Any, errors: Errors,
                   status: int = 200) -> tuple[str, int]:
    with unit_of_work() as uow:
        listing = InnovationOut().dump(_own(uow, innovation_id))
        documents = _documents(uow, innovation_id)
    files = [(d["id"], f"{d['title']} ({d['filename']})") for d in documents]
    return page("innovator/approval.html", f"Submit {listing['name']} for approval",
                  status=status, listing=listing, files=files, values=values,
                  errors=errors, labels=APPROVAL_LABELS,
                  dspt=options(DSPT_STATUSES), cyber=options(CYBER_ESSENTIALS_LEVELS),
                  wcag=[(w, w) for w in ("A", "AA", "AAA")],
                  classes=options(DEVICE_CLASSES),
                  marks=[(m, m if m != "none" else "None") for m in DEVICE_MARKS],
                  tiers=[(t, f"Tier {t}") for t in ESF_TIERS], routes=options(NICE_ROUTES),
                  dtac=DTAC_SECTIONS)


@bp.get("/my/innovations/<innovation_id>/approval")
def approval_form(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    return _approval_form(innovation_id, MultiDict(), {})


@bp.post("/my/innovations/<innovation_id>/approval")
def submit_approval(innovation_id: str) -> Any:
    if (away := innovator_only()) is not None:
        return away
    loaded, errors = load(ApprovalSubmission, _approval_body(request.form))
    if errors:
        return _approval_form(innovation_id, request.form, _flat_errors(errors), 422)
    try:
        with unit_of_work() as uow:
            approvals.submit(uow, innovation_id, **loaded)
            uow.commit()
    except InvalidInput as exc:
        return _approval_form(innovation_id, request.form, _flat_errors(domain_errors(exc)),
                              422)
    return redirect(f"/my/innovations/{innovation_id}", 303)
