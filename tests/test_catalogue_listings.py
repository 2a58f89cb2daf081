"""Listings over HTTP: drafts, publication, edits with If-Match, withdrawal, ownership,
the ``innovation.*`` events, history, and evidence files stored by SHA-256."""
from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from flask import Flask

from marketplace.http.wiring import marketplace_of
from tests.catalogue_support import (
    INNOVATOR,
    World,
    ce,
    listing_body,
    outbox_events,
    world_fixture,  # noqa: F401  (the `world` fixture)
)


def test_create_is_a_private_draft(world: World) -> None:
    headers = {"Idempotency-Key": "listing-1"}
    first = world.call("POST", "/innovations", "innovator", 201, json=listing_body(),
                       headers=headers)
    again = world.call("POST", "/innovations", "innovator", 201, json=listing_body(),
                       headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true"
    draft = first.get_json()
    assert again.get_json()["id"] == draft["id"]
    assert first.headers["Location"].endswith(f"/innovations/{draft['id']}")
    assert first.headers["ETag"] == '"1"'
    assert draft["status"] == "draft" and draft["organisation"]["code"] == INNOVATOR
    assert draft["pathway_stages"] == ["referral_triage", "diagnosis"]
    assert draft["current_approval"] is None

    for who in (None, "other", "icb_buyer"):
        world.call("GET", f"/innovations/{draft['id']}", who, 404)
    for who in ("innovator", "assessor", "admin"):
        world.call("GET", f"/innovations/{draft['id']}", who, 200)
    assert world.call("GET", "/innovations", None, 200).get_json()["total"] == 0
    mine = world.call("GET", "/innovations?mine=true", "innovator", 200).get_json()
    assert [i["id"] for i in mine["items"]] == [draft["id"]]
    world.call("GET", "/innovations?mine=true", "assessor", 403)
    assert outbox_events(world.uow_factory) == []  # drafts are private: no events


@pytest.mark.parametrize(("changes", "field"), [
    ({"device_class": "not_a_device"}, "device_mark"),
    ({"categories": []}, "categories"),
    ({"categories": ["Cancer Triage"]}, "categories"),
    ({"pathway_stages": ["surgery"]}, "pathway_stages"),
    ({"esf_tier": "D"}, "esf_tier"),
    ({"product_version": "3.2 beta"}, "product_version"),
    ({"owner": "someone"}, "owner"),
])
def test_listing_validation(world: World, changes: dict, field: str) -> None:
    problem = world.call("POST", "/innovations", "innovator", 422,
                         json=listing_body(**changes)).get_json()
    assert field in problem["errors"]


def test_publish_edit_withdraw_emit_the_listing_events(world: World) -> None:
    draft = world.create_listing()
    draft = world.patch(draft, summary="Draft edits emit nothing.")
    assert draft["version"] == 2 and outbox_events(world.uow_factory) == []

    world.clock.advance(hours=1)
    listed = world.patch(draft, status="published")
    assert listed["status"] == "published" and listed["version"] == 3
    assert listed["published_at"] == "2026-11-21T10:00:00+00:00"
    world.call("GET", f"/innovations/{listed['id']}", None, 200)
    (event,) = outbox_events(world.uow_factory)
    assert event["ce_type"] == ce("innovation.listed") and event["sequence"] == 1
    assert event["record_key"] == listed["id"] and event["topic"] == "marketplace.innovations"
    assert event["data"] == {
        "innovation_id": listed["id"], "innovator_org_id": event["data"]["innovator_org_id"],
        "innovator_companies_house_number": INNOVATOR, "product_name": "Oncoflow Triage",
        "summary": "Draft edits emit nothing.", "product_version": "3.2",
        "categories": ["cancer.triage"], "pathway_stages": ["referral_triage", "diagnosis"],
        "use_cases": ["AI triage", "digital pre-assessment"], "esf_tier": "C",
        "device_class": "IIa", "device_mark": "UKCA", "pricing_model": "site_licence",
        "listed_at": "2026-11-21T10:00:00+00:00"}
    # Organisations are named by their stable UUID (the same in every environment).
    assert str(uuid.UUID(event["data"]["innovator_org_id"])) == event["data"]["innovator_org_id"]
    organisation = world.call("GET", f"/organisations/{INNOVATOR}", None, 200).get_json()
    assert organisation["id"] == event["data"]["innovator_org_id"]

    # Restating the same values changes nothing: no version bump, no event.
    same = world.patch(listed, categories=["cancer.triage", "cancer.triage"],
                       name=" Oncoflow Triage ")
    assert same["version"] == listed["version"]

    updated = world.patch(listed, name="Oncoflow Triage Plus", product_version="3.3",
                          categories=["cancer.triage", "cancer.diagnostics"])
    assert updated["categories"] == ["cancer.diagnostics", "cancer.triage"]
    event = outbox_events(world.uow_factory)[-1]
    assert event["ce_type"] == ce("innovation.updated") and event["sequence"] == 2
    assert event["data"]["changed_fields"] == ["categories", "product_name",
                                               "product_version"]
    assert event["data"]["product_name"] == "Oncoflow Triage Plus"

    problem = world.patch(updated, expect=422, status="withdrawn")
    assert problem["errors"] == {"withdrawal_reason": ["required to withdraw a published "
                                                       "listing"]}
    withdrawn = world.patch(updated, status="withdrawn",
                            withdrawal_reason="Superseded by Oncoflow 4.")
    event = outbox_events(world.uow_factory)[-1]
    assert event["ce_type"] == ce("innovation.withdrawn") and event["sequence"] == 3
    assert event["data"]["reason"] == "Superseded by Oncoflow 4."
    assert world.call("GET", "/innovations", None, 200).get_json()["total"] == 0

    # Withdrawal is final.
    for changes in ({"status": "published"}, {"summary": "again"}):
        problem = world.patch(withdrawn, expect=409, **changes)
        assert "withdrawn, which is final" in problem["detail"]
    assert len(outbox_events(world.uow_factory)) == 3


def test_withdrawing_a_draft_emits_nothing(world: World) -> None:
    draft = world.create_listing()
    world.patch(draft, status="withdrawn")
    assert outbox_events(world.uow_factory) == []
    problem = world.patch(world.create_listing(), expect=422, status="withdrawn",
                          summary="and edit")
    assert "summary" in problem["errors"]


def test_updates_need_a_current_if_match(world: World) -> None:
    listing = world.published()
    path = f"/innovations/{listing['id']}"
    world.call("PATCH", path, "innovator", 428, json={"summary": "x"})
    world.call("PATCH", path, "innovator", 412, json={"summary": "x"},
               headers={"If-Match": '"1"'})
    ok = world.call("PATCH", path, "innovator", 200, json={"summary": "x"},
                    headers={"If-Match": f'"{listing["version"]}"'})
    assert ok.headers["ETag"] == f'"{listing["version"] + 1}"'


def test_only_the_owner_changes_a_listing(world: World) -> None:
    listing = world.published()
    draft = world.create_listing()
    for who, status in (("other", 403), ("assessor", 403), ("admin", 403), (None, 401)):
        world.call("PATCH", f"/innovations/{listing['id']}", who, status,
                   json={"summary": "mine now"}, headers={"If-Match": '"2"'})
        world.call("POST", f"/innovations/{listing['id']}/evidence", who, status,
                   json={"kind": "dpia", "title": "x", "filename": "x.pdf",
                         "content_base64": "eA=="})
    world.call("PATCH", f"/innovations/{draft['id']}", "other", 404,
               json={"summary": "x"}, headers={"If-Match": '"1"'})
    world.call("GET", f"/innovations/{listing['id']}/history", "other", 403)
    world.call("GET", f"/innovations/{listing['id']}/evidence", "other", 403)
    assert world.call("GET", f"/innovations/{listing['id']}", None,
                      200).get_json()["summary"] != "mine now"


def test_history_records_every_change(world: World) -> None:
    listing = world.published()
    listing = world.patch(listing, summary="Now with pathway analytics.")
    world.approval_in("approved", listing)
    history = world.call("GET", f"/innovations/{listing['id']}/history?per_page=100",
                         "innovator", 200).get_json()
    actions = [row["action"] for row in history["items"]]
    assert actions == ["innovation.created", "innovation.published", "innovation.updated",
                       "innovation.evidence_added", "innovation.evidence_added",
                       "innovation.evidence_added", "approval.submitted",
                       "approval.review_started", "approval.approved"]
    update = history["items"][2]
    assert update["changes"]["summary"][1] == "Now with pathway analytics."
    assert world.call("GET", f"/innovations/{listing['id']}/history", "assessor",
                      200).get_json()["total"] == len(actions)


def test_evidence_is_stored_by_hash_and_never_in_events(world: World, app: Flask) -> None:
    listing = world.published()
    content = b"%PDF-1.7 DCB0129 clinical safety case report for Oncoflow Triage 3.2"
    digest = hashlib.sha256(content).hexdigest()
    document = world.upload(listing["id"], "dcb0129_safety_case", content)
    assert document["sha256"] == digest and document["size_bytes"] == len(content)
    stored = Path(marketplace_of(app).settings.evidence_dir) / digest[:2] / digest
    assert stored.read_bytes() == content
    # The same bytes again share the stored file.
    world.upload(listing["id"], "hazard_log", content)
    assert len(list(stored.parent.iterdir())) == 1

    listed = world.call("GET", f"/innovations/{listing['id']}/evidence", "assessor",
                        200).get_json()
    assert sorted(d["kind"] for d in listed["items"]) == ["dcb0129_safety_case", "hazard_log"]
    download = world.call("GET", document["download"].removeprefix("/api/v1"), "assessor",
                          200)
    assert download.data == content and download.headers["ETag"] == f'"{digest}"'
    assert "dcb0129_safety_case.pdf" in download.headers["Content-Disposition"]
    world.call("GET", document["download"].removeprefix("/api/v1"), None, 401)

    for event in outbox_events(world.uow_factory):
        assert digest not in str(event["data"]) and "PDF" not in str(event["data"])

    stored.write_bytes(b"tampered")
    problem = world.call("GET", document["download"].removeprefix("/api/v1"), "assessor",
                         409).get_json()
    assert "SHA-256" in problem["detail"]


def test_evidence_upload_validation(world: World) -> None:
    listing = world.published()
    base = {"kind": "dpia", "title": "DPIA", "filename": "dpia.pdf", "content_base64": "eA=="}
    for changes, field in (({"content_base64": "not base64!"}, "content_base64"),
                           ({"filename": "../../etc/passwd"}, "filename"),
                           ({"kind": "selfie"}, "kind"),
                           ({"content_base64": ""}, "content")):
        problem = world.call("POST", f"/innovations/{listing['id']}/evidence", "innovator",
                             422, json={**base, **changes}).get_json()
        assert field in problem["errors"], problem
