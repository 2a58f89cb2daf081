"""The central assessor's pages: ``/review`` (the review queue, as ``GET /api/v1/approvals``)
and ``/review/<approval_id>`` (a submission's DTAC sections and evidence, with the forms
the approval's status allows: start the review, decide, suspend, reinstate, revoke).

Each view parses its form with the API's schema (``schemas.api.approvals``), calls the one
approvals service function the API endpoint calls, in a unit of work acting as the
signed-in assessor, and redirects (303) to the approval's page; the service's rules
(who may decide, which transition the status allows) are never the page's own.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, request
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from marketplace.approvals import service as approvals
from marketplace.catalogue.models import EvidenceDocument
from marketplace.http.pagination import paginate
from marketplace.kernel.errors import InvalidInput
from marketplace.web.formatting import formatting, label
from marketplace.web.forms import body, domain_errors, load
from marketplace.web.pages import current_actor, render, unit_of_work
from schemas.api.approvals import (
    APPROVAL_STATUSES,
    DECISION_OUTCOMES,
    ActionIn,
    ApprovalOut,
    ApprovalQuery,
    DecisionIn,
    ReinstateIn,
)
from schemas.events.approvals import ACTION_REASONS, DTAC_RESULTS

bp = Blueprint("approval_pages", __name__)

PER_PAGE = 50
#: How many condition rows the decision form offers.
CONDITION_ROWS = 3
DTAC_SECTIONS = (("c1", "C1 Clinical safety"), ("c2", "C2 Data protection"),
                 ("c3", "C3 Technical security"), ("c4", "C4 Interoperability"),
                 ("d", "D Usability and accessibility"))
SECTIONS = (("c1_clinical_safety", "C1 Clinical safety (DCB0129)"),
            ("c2_data_protection", "C2 Data protection"),
            ("c3_technical_security", "C3 Technical security"),
            ("c4_interoperability", "C4 Interoperability"),
            ("d_usability_accessibility", "D Usability and accessibility"),
            ("device", "Medical device (MHRA, UK MDR 2002)"),
            ("nice", "NICE evidence standards"))
OUTCOME_WORDS = {"approved": "Approve", "conditional": "Approve with conditions",
                 "rejected": "Reject"}
#: The API's field names -> the decision form's labels.
DECISION_LABELS = {"outcome": "Decision", "notes": "Notes", "d_score": "D score",
                   "dtac": "DTAC results", "conditions": "Conditions",
                   **{f"dtac_{key}": name for key, name in DTAC_SECTIONS},
                   **{f"condition_{n}_{part}": f"Condition {n} {words}"
                      for n in range(1, CONDITION_ROWS + 1)
                      for part, words in (("text", "text"), ("due_on", "due date"))}}
ACTIONS = ("suspend", "reinstate", "revoke")
ACTION_LABELS = {f"{action}_{name}": f"{action.capitalize()}: {words}"
                 for action in ACTIONS
                 for name, words in (("reason_code", "reason code"), ("reason", "reason"))}



def _assessor_only() -> Response | None:
    """Anonymous: to the sign-in page; any role but the assessor's: 403."""
    actor = current_actor()
    if actor.is_anonymous:
        return redirect(f"/sign-in?next={request.path}", 303)
    if actor.role != "assessor":
        abort(403)
    return None


def _context() -> dict[str, Any]:
    return {"label": label, **formatting()}


@bp.get("/review")
def queue() -> Any:
    if (refused := _assessor_only()) is not None:
        return refused
    values = {"status": request.args.get("status", "submitted")}
    query, errors = load(ApprovalQuery, {k: v for k, v in values.items() if v})
    found = None
    if not errors:
        with unit_of_work() as uow:
            found = paginate(uow.session, approvals.list_query(uow, **query), ApprovalOut(),
                             1, PER_PAGE)
    return render("assessor/queue.html", "Review queue", status=422 if errors else 200,
                  found=found, values=values, errors=errors,
                  statuses=[(s, label(s)) for s in APPROVAL_STATUSES], **_context())


def _evidence(uow: Any, approval: Any) -> list[dict[str, Any]]:
    """The evidence documents the submission names (titles and files, not contents)."""
    shown = []
    for field, kind in approvals.EVIDENCE_REFERENCES.items():
        document_id = getattr(approval, field, None)
        document = uow.session.get(EvidenceDocument, document_id) if document_id else None
        if document is not None:
            shown.append({"kind": label(kind), "title": document.title,
                          "filename": document.filename, "size": document.size_bytes,
                          "uploaded_at": document.uploaded_at, "sha256": document.sha256})
    return shown


def _page(approval_id: str, status: int = 200, errors: dict[str, Any] | None = None,
          values: MultiDict[str, str] | None = None, form: str | None = None) -> Any:
    with unit_of_work() as uow:
        approval = approvals.get_visible(uow, approval_id)
        shown = ApprovalOut().dump(approval)
        innovation_name = approval.innovation.name
        evidence = _evidence(uow, approval)
    labels = {**DECISION_LABELS, **ACTION_LABELS}
    return render("assessor/approval.html", f"{innovation_name} version "
                  f"{shown['product_version']}", status=status, approval=shown,
                  innovation_name=innovation_name, evidence=evidence, sections=SECTIONS,
                  dtac_sections=DTAC_SECTIONS, errors=errors or {}, labels=labels,
                  values=values if values is not None else MultiDict(), form=form,
                  outcomes=[(o, OUTCOME_WORDS.get(o, label(o))) for o in DECISION_OUTCOMES],
                  results=[(r, label(r)) for r in DTAC_RESULTS],
                  reasons=[(r, label(r)) for r in ACTION_REASONS],
                  condition_rows=range(1, CONDITION_ROWS + 1), **_context())


@bp.get("/review/<approval_id>")
def approval_page(approval_id: str) -> Any:
    if (refused := _assessor_only()) is not None:
        return refused
    return _page(approval_id)


@bp.post("/review/<approval_id>/start-review")
def start_review(approval_id: str) -> Any:
    if (refused := _assessor_only()) is not None:
        return refused
    with unit_of_work() as uow:
        approvals.start_review(uow, approval_id)
        uow.commit()
    return redirect(f"/review/{approval_id}", 303)


def _decision_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The API's decision body from the form: DTAC results nested, conditions listed."""
    flat = body(form)
    out: dict[str, Any] = {k: flat[k] for k in ("outcome", "notes") if k in flat}
    dtac: dict[str, Any] = {key: flat[f"dtac_{key}"] for key, _ in DTAC_SECTIONS
                            if f"dtac_{key}" in flat}
    if "d_score" in flat:
        score = flat["d_score"]
        dtac["d_score"] = int(score) if score.isdigit() else score
    out["dtac"] = dtac
    conditions = []
    for n in range(1, CONDITION_ROWS + 1):
        text, due = flat.get(f"condition_{n}_text"), flat.get(f"condition_{n}_due_on")
        if text or due:
            conditions.append({k: v for k, v in (("text", text), ("due_on", due)) if v})
    out["conditions"] = conditions
    return out


def _decision_errors(errors: dict[str, Any], conditions: list[int]) -> dict[str, Any]:
    """The API's error map (``dtac.c1``, ``conditions.0.due_on``) on the form's fields;
    ``conditions`` maps a condition's index in the body to its row on the form."""
    out: dict[str, Any] = {}
    for field, messages in errors.items():
        if field == "dtac" and isinstance(messages, dict):
            for key, inner in messages.items():
                out["d_score" if key == "d_score" else f"dtac_{key}"] = inner
        elif field == "conditions" and isinstance(messages, dict):
            for index, inner in messages.items():
                row = conditions[int(index)] if str(index).isdigit() and int(index) < len(
                    conditions) else 1
                for part, words in (inner.items() if isinstance(inner, dict)
                                    else (("text", inner),)):
                    out[f"condition_{row}_{part}"] = words
        else:
            out[field] = messages
    return out


@bp.post("/review/<approval_id>/decision")
def decide(approval_id: str) -> Any:
    if (refused := _assessor_only()) is not None:
        return refused
    data = _decision_body(request.form)
    rows = [n for n in range(1, CONDITION_ROWS + 1)
            if request.form.get(f"condition_{n}_text", "").strip()
            or request.form.get(f"condition_{n}_due_on", "").strip()]
    decision, errors = load(DecisionIn, data)
    if not errors:
        try:
            with unit_of_work() as uow:
                approvals.decide(uow, approval_id, **decision)
                uow.commit()
            return redirect(f"/review/{approval_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    return _page(approval_id, 422, _decision_errors(errors, rows), request.form, "decision")


def _action(approval_id: str, action: str) -> Any:
    """Suspend, reinstate or revoke: the form's ``<action>_`` fields as the API's body."""
    if (refused := _assessor_only()) is not None:
        return refused
    prefix = f"{action}_"
    data = {name.removeprefix(prefix): value for name, value in body(request.form).items()
            if name.startswith(prefix)}
    schema = ReinstateIn if action == "reinstate" else ActionIn
    loaded, errors = load(schema, data)
    if not errors:
        try:
            with unit_of_work() as uow:
                getattr(approvals, action)(uow, approval_id, **loaded)
                uow.commit()
            return redirect(f"/review/{approval_id}", 303)
        except InvalidInput as exc:
            errors = domain_errors(exc)
    errors = {(prefix + k if k != "_schema" else k): v for k, v in errors.items()}
    return _page(approval_id, 422, errors, request.form, action)


@bp.post("/review/<approval_id>/suspend")
def suspend(approval_id: str) -> Any:
    return _action(approval_id, "suspend")


@bp.post("/review/<approval_id>/reinstate")
def reinstate(approval_id: str) -> Any:
    return _action(approval_id, "reinstate")


@bp.post("/review/<approval_id>/revoke")
def revoke(approval_id: str) -> Any:
    return _action(approval_id, "revoke")
