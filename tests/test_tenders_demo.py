"""``marketplace seed-demo`` adds one tender open for responses (with a published
clarification) and one awarded whose contract is signed, through the services; seeding
twice adds nothing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.catalogue_support import ce, outbox_events
from tests.conftest import bearer


def test_demo_tenders_and_seeding_twice_adds_nothing(
        client: FlaskClient, uow_factory: Callable[..., UnitOfWork],
        make_token: Callable[..., str], tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        with uow_factory() as uow:
            runs.append([line for line in seed(uow, tmp_path) if line.startswith("tender")])
            uow.commit()
    first, second = runs
    assert len(first) == 2 and second == []
    assert first[0].endswith("Translated cancer patient information for Greater Manchester "
                             "(open for responses)")
    assert "Digital consent for systemic anti-cancer therapy (awarded; contract" in first[1]

    tenders = {t["title"]: t for t in client.get("/api/v1/tenders").get_json()["items"]}
    open_one = tenders["Translated cancer patient information for Greater Manchester"]
    assert open_one["status"] == "published"
    assert [q["number"] for q in open_one["questions"]] == [1]
    awarded = tenders["Digital consent for systemic anti-cancer therapy"]
    assert (awarded["status"], awarded["responses_received"]) == ("awarded", 2)

    # The contract is in force, so the buying ICB's trusts can call off under it.
    trust = make_token("trust_system", "RAL")
    contract = client.get(f"/api/v1/contracts/{awarded['contract_id']}",
                          headers=bearer(trust)).get_json()
    assert contract["status"] == "active"
    assert contract["eligible_trusts"] == ["RAL", "RRV"]
    assert contract["supplier"]["companies_house_number"] == "11122233"  # Consentic
    assert contract["value_pence"] == 4 * 1_150_000 + 10 * 90_000
    types = [e["ce_type"] for e in outbox_events(uow_factory)
             if e["ce_type"].startswith("uk.nhs.marketplace.tender")
             or e["ce_type"].startswith("uk.nhs.marketplace.contract")]
    assert types == [ce("tender.published"), ce("tender.published"), ce("tender.closed"),
                     ce("tender.awarded"), ce("contract.signed")]
