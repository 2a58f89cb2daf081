"""``marketplace tick``: approvals expire when their evidence lapses, driven by the injected
clock (no sleeping); running it twice, or twice at once, expires each approval once."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from marketplace.approvals import deadlines as approval_expiry
from marketplace.entrypoints.cli import main
from tests.catalogue_support import (
    REASON,
    World,
    ce,
    outbox_events,
    world_fixture,  # noqa: F401  (the `world` fixture)
)


def _tick(world: World) -> list[str]:
    with world.uow_factory() as uow:
        expired = [a.id for a in approval_expiry.expire_due(uow)]
        uow.commit()
    return expired


def _approved_ids(world: World) -> list[str]:
    found = world.call("GET", "/innovations?approved=true", None, 200).get_json()
    return [item["id"] for item in found["items"]]


def test_tick_expires_lapsed_approvals_once(world: World) -> None:
    approved = world.approval_in("approved")
    conditional = world.approval_in("conditional")
    suspended = world.approval_in("suspended")
    submitted = world.approval_in("submitted")
    expires_at = datetime.fromisoformat(approved["expires_at"])
    assert _tick(world) == []

    world.clock.now = expires_at - timedelta(seconds=1)
    assert _tick(world) == []
    assert len(_approved_ids(world)) == 2  # approved and conditional; not suspended

    world.clock.now = expires_at
    # Listings drop out of approved=true at expires_at, even before the tick runs.
    assert _approved_ids(world) == []
    expired = _tick(world)
    assert sorted(expired) == sorted([approved["id"], conditional["id"], suspended["id"]])
    events = outbox_events(world.uow_factory, "approval.expired")
    assert {e["record_key"] for e in events} == set(expired)
    for event in events:
        assert event["ce_type"] == ce("approval.expired")
        assert event["data"]["status"] == "expired"
        assert event["data"]["expires_at"] == approved["expires_at"]
        assert event["data"]["expired_at"] == expires_at.isoformat()
        assert event["data"]["lapsed_evidence"] == ["penetration_test"]
    assert {e["sequence"] for e in events if e["record_key"] == suspended["id"]} == {3}

    # Idempotent: a second run expires nothing and emits nothing.
    before = len(outbox_events(world.uow_factory))
    assert _tick(world) == []
    assert len(outbox_events(world.uow_factory)) == before
    # A submission awaiting review is not expired by the tick; it is decided or rejected.
    assert world.call("GET", f"/approvals/{submitted['id']}", "assessor",
                      200).get_json()["status"] == "submitted"
    gone = world.call("GET", f"/approvals/{approved['id']}", "assessor", 200).get_json()
    assert gone["status"] == "expired" and gone["lapsed_evidence"] == ["penetration_test"]


def test_two_ticks_at_once_expire_each_approval_once(world: World) -> None:
    ids = {world.approval_in("approved")["id"] for _ in range(3)}
    world.clock.advance(days=400)
    barrier, results = threading.Barrier(2), []

    def run() -> None:
        barrier.wait(10)
        results.append(_tick(world))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results[0] + results[1]) == sorted(ids)
    events = outbox_events(world.uow_factory, "approval.expired")
    assert sorted(e["record_key"] for e in events) == sorted(ids)


def test_revoked_and_rejected_approvals_never_expire(world: World) -> None:
    revoked = world.approval_in("revoked")
    world.approval_in("rejected")
    world.clock.advance(days=2000)
    assert _tick(world) == []
    assert world.call("GET", f"/approvals/{revoked['id']}", "assessor",
                      200).get_json()["reason"] == REASON["reason"]


def test_marketplace_tick_command(world: World, database_url: str) -> None:
    """The console command uses the real clock: evidence here lapsed long before today."""
    world.clock.now = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)
    listing = world.published()
    approval = world.submit(listing["id"],
                            c2_data_protection={"dspt_year": "2024-25"},
                            c3_technical_security={"cyber_essentials_expires_on": "2026-01-31",
                                                   "penetration_test_on": "2025-03-01"})
    world.act(approval["id"], "start-review")
    world.act(approval["id"], "decision", {"outcome": "approved", "dtac": {
        "c1": "pass", "c2": "pass", "c3": "pass", "c4": "pass", "d": "pass"}})
    env = {"DATABASE_URL": database_url, "SECRET_KEY": "x"}
    first = CliRunner().invoke(main, ["tick"], env=env)
    assert first.exit_code == 0, first.output
    assert "expired 1 approval" in first.output and approval["id"] in first.output
    second = CliRunner().invoke(main, ["tick"], env=env)
    assert second.exit_code == 0 and "expired 0 approvals" in second.output
    assert len(outbox_events(world.uow_factory, "approval.expired")) == 1
