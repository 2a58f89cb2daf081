"""``marketplace seed-demo`` adds one live framework with two lots and awards to the approved
demo listings, through the services (events and audit included); seeding twice adds
nothing."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.catalogue_support import ce, outbox_events


def test_demo_framework_is_live_and_seeding_twice_adds_nothing(
        client: FlaskClient, uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    runs = []
    for _ in range(2):
        with uow_factory() as uow:
            runs.append([line for line in seed(uow, tmp_path) if line.startswith("framework")])
            uow.commit()
    first, second = runs
    assert first == [
        "framework NHS-CPDIF-2026 Cancer Pathway Digital Innovation Framework 2026 (2 lots)",
        "framework award NHS-CPDIF-2026 lot 1: Clearpath Referral Triage",
        "framework award NHS-CPDIF-2026 lot 2: Consentic eConsent",
        "framework award NHS-CPDIF-2026 lot 2: LinguaCare Patient Information"]
    assert second == []

    listed = client.get("/api/v1/frameworks").get_json()
    (framework,) = listed["items"]
    assert (framework["status"], framework["period"]) == ("published", "current")
    assert framework["title"] == "Cancer Pathway Digital Innovation Framework 2026"
    assert [lot["lot_number"] for lot in framework["lots"]] == ["1", "2"]
    awarded = {(a["lot_number"], a["supplier"]["code"], a["status"], a["period"])
               for a in framework["awards"]}
    assert awarded == {("1", "09876543", "active", "current"),
                       ("2", "11122233", "active", "current"),
                       ("2", "SC654321", "active", "current")}
    published, *granted = outbox_events(uow_factory, "framework.")
    assert published["ce_type"] == ce("framework.published")
    assert [lot["lot_number"] for lot in published["data"]["lots"]] == ["1", "2"]
    assert [e["ce_type"] for e in granted] == [ce("framework.award.granted")] * 3
