"""End to end through the real broker: a tender awarded and its contract signed over the
API; the relay publishes the outbox and both demo trusts' adapters (R0A and RBV, the
buying ICB's trusts) apply ``contract.signed`` to their registers, supplier onboarded for
the contract's period. Nothing a trust receives names the losing bid."""
from __future__ import annotations

import json
from datetime import datetime
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
from tests.catalogue_support import ce, outbox_events
from tests.event_helpers import relay_pending_to
from tests.tenders_more_support import (  # noqa: F401  (the `market` fixture)
    MoreTenders,
    market_fixture,
)

pytestmark = pytest.mark.kafka

LOSING_PRICE = 20_000_000  # the other innovator's bid in ``Tenders.awarded``


def _get(adapter: TrustAdapter, table: str, key: str) -> dict[str, Any] | None:
    with adapter.engine.connect() as conn:
        return register.SqlView(conn).get(table, key)


def test_a_signed_contract_reaches_both_trusts_registers(
        tmp_path: Path, bootstrap: str, database_url: str, market: MoreTenders) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    market.add_trust(TRUST_B)  # R0A comes with the tender fixture; both are QOP's
    trusts = [broker_adapter(tmp_path, bootstrap, topic, ack_topic, trust)
              for trust in (TRUST_A, TRUST_B)]
    try:
        wait_assigned(*trusts)
        tender, win, _ = market.awarded()
        contract_path = f"/contracts/{tender['contract_id']}"
        contract = market.call("GET", contract_path, "icb_buyer", 200).get_json()
        market.world.clock.now = datetime.fromisoformat(contract["standstill_ends_at"])
        signed = market.call("POST", f"{contract_path}/sign", "icb_buyer", 200).get_json()
        assert signed["eligible_trusts"] == [TRUST_A, TRUST_B]

        wire = [e["ce_type"] for e in outbox_events(market.world.uow_factory)]
        assert wire.count(ce("contract.signed")) == 1
        sent = relay_pending_to(database_url, bootstrap, topic)
        assert sent == len(wire)  # listings, approvals, the tender's three, the signature
        drain(trusts, lambda: all(applied(t) == sent for t in trusts))

        for trust in trusts:
            row = _get(trust, "contract", signed["id"])
            assert row is not None, trust.config.trust
            assert (row["status"], row["reference"], row["buyer_icb_ods"]) == (
                "active", signed["reference"], "QOP")
            assert (row["value_pence"], row["innovation_id"]) == (18_000_000,
                                                                  win["innovation_id"])
            assert (row["starts_on"], row["ends_on"]) == (signed["starts_on"],
                                                          signed["ends_on"])
            assert row["eligible_trusts"] == [TRUST_A, TRUST_B]
            assert [line["unit_price_pence"] for line in row["lines"]] == [18_000_000]
            assert row["supplier_org_id"] == signed["supplier"]["org_id"]
            supplier = _get(trust, "supplier", f"contract:{signed['id']}")
            assert supplier is not None and supplier["status"] == "active"
            assert supplier["companies_house_number"] == "09876543"
            with trust.engine.connect() as conn:
                everything = json.dumps(
                    [register.SqlView(conn).where(table)
                     for table in ("contract", "supplier")], default=str)
            assert str(LOSING_PRICE) not in everything
    finally:
        for trust in trusts:
            trust.close()
