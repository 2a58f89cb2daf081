"""End to end through the real broker: a framework award made over the API reaches both demo
trusts' registers (R0A, RBV) by the relay and their adapters, supplier onboarded; revoking
the central approval withdraws the award in the same transaction, and both registers
show the withdrawal."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from adapters import register
from adapters.runtime import TrustAdapter
from tests.adapter_support import (
    TRUST_A,
    TRUST_B,
    applied,
    broker_adapter,
    drain,
    fresh_topics,
    wait_assigned,
)
from tests.catalogue_support import REASON, World
from tests.event_helpers import relay_pending_to
from tests.frameworks_support import (  # noqa: F401  (fixtures)
    Frameworks,
    frameworks_fixture,
    world_fixture,
)

pytestmark = pytest.mark.kafka


def _award(adapter: TrustAdapter, award_id: str) -> dict[str, Any] | None:
    with adapter.engine.connect() as conn:
        return register.SqlView(conn).get("framework_award", award_id)


def _supplier(adapter: TrustAdapter, award_id: str) -> dict[str, Any] | None:
    with adapter.engine.connect() as conn:
        return register.SqlView(conn).get("supplier", f"framework_award:{award_id}")


def test_both_trusts_register_the_award_then_its_withdrawal(
        tmp_path: Path, bootstrap: str, database_url: str, world: World,
        frameworks: Frameworks) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    trusts = [broker_adapter(tmp_path, bootstrap, topic, ack_topic, trust)
              for trust in (TRUST_A, TRUST_B)]
    try:
        wait_assigned(*trusts)

        award, approval = frameworks.approved_award()
        sent = relay_pending_to(database_url, bootstrap, topic)
        assert sent == 4  # innovation.listed, approval.granted, framework published and award
        drain(trusts, lambda: all(applied(t) == sent for t in trusts))
        for trust in trusts:
            row = _award(trust, award["id"])
            assert row is not None, trust.config.trust
            assert (row["status"], row["lot_number"], row["innovation_ids"]) == (
                "active", "1", [approval["innovation_id"]])
            assert [c["ceiling_unit_price_pence"] for c in row["price_ceilings"]] == [
                line["ceiling_unit_price_pence"] for line in award["lines"]]
            supplier = _supplier(trust, award["id"])
            assert supplier is not None and supplier["status"] == "active"
            assert supplier["companies_house_number"] == "09876543"

        world.act(approval["id"], "revoke", REASON)
        more = relay_pending_to(database_url, bootstrap, topic)
        assert more == 2  # approval.revoked and framework.award.withdrawn
        drain(trusts, lambda: all(applied(t) == sent + more for t in trusts))
        for trust in trusts:
            row = _award(trust, award["id"])
            assert row is not None and row["status"] == "withdrawn", trust.config.trust
            supplier = _supplier(trust, award["id"])
            assert supplier is not None and supplier["status"] == "withdrawn"
            with trust.engine.connect() as conn:
                assert register.SqlView(conn).get("approval", approval["id"])["status"] == "revoked"
    finally:
        for trust in trusts:
            trust.close()
