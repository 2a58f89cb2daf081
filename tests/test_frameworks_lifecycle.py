"""The framework lifecycle: drafted with lots, published (call-offs from ``starts_at``, the
period derived when read), expired by ``marketplace tick`` at ``ends_at`` exactly once;
every forbidden step a 409 naming the allowed actions that changes nothing; admin-only
writes; bodies validated (422)."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from marketplace.entrypoints.cli import main
from marketplace.frameworks import deadlines as framework_deadlines
from marketplace.frameworks.lifecycle import (
    AWARD,
    AWARD_TRANSITIONS,
    FRAMEWORK,
    FRAMEWORK_TRANSITIONS,
)
from marketplace.kernel.audit_log import AuditEvent
from marketplace.kernel.state_machine import TransitionForbidden
from tests.catalogue_support import World, ce, outbox_events
from tests.frameworks_support import (  # noqa: F401  (fixtures)
    ENDS,
    STARTS,
    Frameworks,
    frameworks_fixture,
    world_fixture,
)

SECOND = timedelta(seconds=1)


# --- the tables (pure) -------------------------------------------------------------------
def test_tables_cover_the_documented_lifecycles() -> None:
    assert sorted(FRAMEWORK_TRANSITIONS) == sorted([
        ("draft", "add_lot"), ("draft", "publish"), ("published", "award"),
        ("published", "expire")])
    assert sorted(AWARD_TRANSITIONS) == [("active", "expire"), ("active", "withdraw")]
    assert FRAMEWORK.actions_from("expired") == []
    assert AWARD.actions_from("withdrawn") == AWARD.actions_from("expired") == []


@pytest.mark.parametrize(("status", "action"), [
    ("published", "publish"), ("published", "add_lot"), ("draft", "award"),
    ("draft", "expire"), ("expired", "award"), ("expired", "publish")])
def test_forbidden_framework_steps_say_why(status: str, action: str) -> None:
    with pytest.raises(TransitionForbidden) as caught:
        FRAMEWORK.target(status, action)
    assert f"The framework is {status}" in caught.value.detail
    assert caught.value.extra["allowed_actions"] == FRAMEWORK.actions_from(status)


# --- drafting, publishing ----------------------------------------------------------------
def _audit_count(world: World, object_id: str) -> int:
    with world.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.object_id == object_id)) or 0)


def test_draft_lots_and_publication(world: World, frameworks: Frameworks) -> None:
    world.token("assessor")  # X24, the central body
    response = world.call("POST", "/frameworks", "admin", 201, json={
        "title": "Digital health technologies for cancer pathways",
        "description": "Centrally approved digital innovations.",
        "starts_at": STARTS, "ends_at": ENDS}, headers={"Idempotency-Key": "fw-1"})
    draft = response.get_json()
    assert response.headers["ETag"] == '"1"'
    assert response.headers["Location"].endswith(f"/api/v1/frameworks/{draft['id']}")
    assert (draft["status"], draft["period"], draft["lots"], draft["awards"]) == (
        "draft", "upcoming", [], [])
    assert draft["owner"]["code"] == "X24"  # the central body, by default
    assert draft["reference"].startswith("FW-2026-")
    # Drafts are the operator's: a 404 to anyone else, and left out of the list.
    world.call("GET", f"/frameworks/{draft['id']}", None, 404)
    world.call("GET", f"/frameworks/{draft['id']}", "innovator", 404)
    assert world.call("GET", "/frameworks", None, 200).get_json()["total"] == 0
    assert world.call("GET", "/frameworks", "admin", 200).get_json()["total"] == 1
    # The same key and body replay the draft; no second framework.
    again = world.call("POST", "/frameworks", "admin", 201, json={
        "title": "Digital health technologies for cancer pathways",
        "description": "Centrally approved digital innovations.",
        "starts_at": STARTS, "ends_at": ENDS}, headers={"Idempotency-Key": "fw-1"})
    assert again.headers["Idempotent-Replayed"] == "true" and again.get_json() == draft

    # Publishing needs a lot.
    problem = frameworks.publish(draft, expect=409)
    assert "at least one lot" in problem["detail"]
    first = frameworks.add_lot(draft)
    second = frameworks.add_lot(draft, title="Diagnostics", categories=["cancer.diagnostics",
                                                                         "imaging"])
    third = frameworks.add_lot(draft, title="Follow-up", categories=["cancer.follow_up"],
                               lot_number="3a")
    assert [first["lot_number"], second["lot_number"], third["lot_number"]] == ["1", "2", "3a"]
    assert second["categories"] == ["cancer.diagnostics", "imaging"]
    clash = frameworks.add_lot(draft, lot_number="2", expect=409)
    assert "already has a lot 2" in clash["detail"]
    assert outbox_events(world.uow_factory, "framework.") == []

    published = frameworks.publish(draft)
    assert (published["status"], published["period"]) == ("published", "upcoming")
    assert published["version"] > draft["version"]
    (event,) = outbox_events(world.uow_factory, "framework.")
    assert event["ce_type"] == ce("framework.published")
    assert event["topic"] == "marketplace.frameworks"
    assert event["record_key"] == draft["id"] and event["sequence"] == 1
    data = event["data"]
    assert data["reference"] == draft["reference"]
    with world.uow_factory() as uow:
        from marketplace.organisations.models import Organisation

        owner = uow.session.scalar(select(Organisation).where(Organisation.code == "X24"))
        assert data["owner_org_id"] == owner.public_id
    assert [(lot["lot_number"], lot["title"], lot["categories"]) for lot in data["lots"]] == [
        ("1", "Referral and triage", ["cancer.triage"]),
        ("2", "Diagnostics", ["cancer.diagnostics", "imaging"]),
        ("3a", "Follow-up", ["cancer.follow_up"])]
    assert data["starts_at"] == STARTS and data["published_at"] == world.clock.now.isoformat()
    # Public now; call-offs from starts_at: the period is derived when read.
    assert frameworks.get(published)["period"] == "upcoming"
    world.clock.now = datetime.fromisoformat(STARTS)
    assert frameworks.get(published)["period"] == "current"
    listed = world.call("GET", "/frameworks?status=published", None, 200).get_json()
    assert [f["id"] for f in listed["items"]] == [draft["id"]]
    assert listed["items"][0]["period"] == "current"
    lot = world.call("GET", f"/frameworks/{draft['id']}/lots/{first['id']}", None,
                     200).get_json()
    assert lot == first
    assert _audit_count(world, draft["id"]) == 5  # created, three lots, published


def test_forbidden_steps_are_409_naming_the_allowed_actions(world: World,
                                                            frameworks: Frameworks) -> None:
    draft = frameworks.create()
    frameworks.add_lot(draft)
    problem = world.call("POST", f"/frameworks/{draft['id']}/awards", "admin", 409, json={
        "lot_id": draft["id"], "innovation_id": draft["id"], "lines": [
            {"item_id": "X", "description": "x", "unit_code": "C62",
             "ceiling_unit_price_pence": 1}],
        "starts_at": STARTS, "ends_at": ENDS}).get_json()
    assert problem["allowed_actions"] == ["add_lot", "publish"]
    assert (problem["current_status"], problem["action"]) == ("draft", "award")
    published = frameworks.publish(draft)
    before = (frameworks.get(published), len(outbox_events(world.uow_factory)),
              _audit_count(world, draft["id"]))
    for response in (frameworks.publish(published, expect=409),
                     frameworks.add_lot(published, expect=409)):
        assert response["status"] == 409 and response["current_status"] == "published"
        assert response["allowed_actions"] == ["award", "expire"]
        assert "The framework is published" in response["detail"]
    assert before == (frameworks.get(published), len(outbox_events(world.uow_factory)),
                      _audit_count(world, draft["id"]))
    world.call("POST", "/frameworks/nope/publish", "admin", 404)


# --- expiry --------------------------------------------------------------------------------
def test_tick_expires_a_framework_at_its_end_once(world: World,
                                                  frameworks: Frameworks) -> None:
    framework = frameworks.live()
    ends_at = datetime.fromisoformat(ENDS)
    world.clock.now = ends_at - SECOND
    assert frameworks.get(framework)["period"] == "current"
    assert [line for line in frameworks.tick() if "framework" in line] == [
        "expired 0 frameworks", "ended 0 framework awards"]
    world.clock.now = ends_at
    assert frameworks.get(framework)["period"] == "ended"  # even before the tick
    lines = frameworks.tick()
    assert f"framework {framework['id']} ({framework['reference']}) expired at " \
           f"{ends_at.isoformat()}" in lines and "expired 1 framework" in lines
    expired = frameworks.get(framework)
    assert (expired["status"], expired["expired_at"]) == ("expired", ends_at.isoformat())
    (event,) = outbox_events(world.uow_factory, "framework.expired")
    assert event["data"] == {"framework_id": framework["id"],
                             "reference": framework["reference"],
                             "ends_at": ends_at.isoformat(), "expired_at": ends_at.isoformat()}
    assert event["sequence"] == 2
    # Idempotent: nothing more, and an expired framework is final.
    before = len(outbox_events(world.uow_factory))
    world.clock.advance(days=1)
    assert "expired 0 frameworks" in frameworks.tick()
    assert len(outbox_events(world.uow_factory)) == before
    assert frameworks.publish(framework, expect=409)["allowed_actions"] == []


def test_drafts_never_expire(world: World, frameworks: Frameworks) -> None:
    draft = frameworks.create()
    frameworks.add_lot(draft)
    world.clock.now = datetime.fromisoformat(ENDS) + SECOND
    assert "expired 0 frameworks" in frameworks.tick()
    assert frameworks.publish(draft, expect=409)["detail"].startswith("The framework ended")


def test_two_ticks_at_once_expire_each_framework_once(world: World,
                                                      frameworks: Frameworks) -> None:
    ids = {frameworks.live()["id"] for _ in range(3)}
    world.clock.now = datetime.fromisoformat(ENDS)
    barrier, results = threading.Barrier(2), []

    def run() -> None:
        barrier.wait(10)
        with world.uow_factory() as uow:
            results.append([f.id for f in framework_deadlines.expire_due(uow)])
            uow.commit()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results[0] + results[1]) == sorted(ids)
    events = outbox_events(world.uow_factory, "framework.expired")
    assert sorted(e["record_key"] for e in events) == sorted(ids)


def test_marketplace_tick_command(world: World, frameworks: Frameworks,
                                  database_url: str) -> None:
    """The console command runs on the real clock: this framework ended long before today."""
    world.clock.now = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    framework = frameworks.live(starts_at="2025-06-01T00:00:00+01:00",
                                ends_at="2025-12-31T23:59:59+00:00")
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "x"}
    first = CliRunner().invoke(main, ["tick"], env=env)
    assert first.exit_code == 0, first.output
    assert "expired 1 framework" in first.output and framework["id"] in first.output
    second = CliRunner().invoke(main, ["tick"], env=env)
    assert second.exit_code == 0 and "expired 0 frameworks" in second.output
    assert len(outbox_events(world.uow_factory, "framework.expired")) == 1


# --- who may, and what is valid -------------------------------------------------------------
@pytest.mark.parametrize("role", ["icb_buyer", "innovator", "assessor", "funder",
                                  "trust_system"])
def test_only_the_operator_writes(world: World, frameworks: Frameworks, role: str) -> None:
    framework = frameworks.live()
    for path in ("/frameworks", f"/frameworks/{framework['id']}/publish",
                 f"/frameworks/{framework['id']}/lots",
                 f"/frameworks/{framework['id']}/awards"):
        assert world.call("POST", path, role, 403, json={}).get_json()["status"] == 403
        assert world.call("POST", path, None, 401, json={}).get_json()["status"] == 401
    assert frameworks.get(framework, who=role)["id"] == framework["id"]


@pytest.mark.parametrize(("overrides", "field"), [
    ({"ends_at": STARTS}, "ends_at"),
    ({"starts_at": "2026-12-01T00:00:00"}, "starts_at"),
    ({"ends_at": "2026-01-01T00:00:00+00:00", "starts_at": "2025-01-01T00:00:00+00:00"},
     "ends_at"),
    ({"title": ""}, "title"),
    ({"description": "  "}, "description"),
    ({"reference": "lower case"}, "reference"),
    ({"owner_ods": "QZZ"}, "owner_ods"),
    ({"owner_ods": "09876543"}, "owner_ods"),
])
def test_invalid_framework_is_422(world: World, frameworks: Frameworks,
                                  overrides: dict[str, str], field: str) -> None:
    world.token("innovator")  # 09876543 exists, and is no contracting authority
    problem = frameworks.create(expect=422, **overrides)
    assert field in problem["errors"], problem


def test_named_owner_and_duplicate_reference(world: World, frameworks: Frameworks) -> None:
    world.token("icb_buyer")  # QOP
    framework = frameworks.create(owner_ods="qop", reference="QWE-DHT-2026")
    assert (framework["owner"]["code"], framework["reference"]) == ("QOP", "QWE-DHT-2026")
    clash = frameworks.create(expect=409, reference="QWE-DHT-2026")
    assert framework["id"] in clash["detail"]


@pytest.mark.parametrize("body", [
    {"title": "Lot", "categories": []},
    {"title": "Lot", "categories": ["Not A Category"]},
    {"title": "Lot", "categories": ["cancer.triage"], "lot_number": "one"},
    {"categories": ["cancer.triage"]},
])
def test_invalid_lot_is_422(world: World, frameworks: Frameworks, body: dict) -> None:
    draft = frameworks.create()
    world.call("POST", f"/frameworks/{draft['id']}/lots", "admin", 422, json=body)
