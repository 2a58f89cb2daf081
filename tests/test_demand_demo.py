"""``marketplace seed-demo`` posts ICB demand across the cancer pathway, safely twice: some
of it met by pre-approved supply, some only by near misses, one a supply gap."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.catalogue_support import outbox_events


def test_demo_demand_is_realistic_and_seeding_twice_adds_nothing(
        client: FlaskClient, uow_factory: Callable[..., UnitOfWork], tmp_path: Path) -> None:
    for run in range(2):
        with uow_factory() as uow:
            added = [line for line in seed(uow, tmp_path) if line.startswith("demand")]
            uow.commit()
        assert (len(added), run) in ((7, 0), (0, 1))
    assert len(outbox_events(uow_factory, "demand.signal")) == 8  # 7 posted, 1 closed

    signals = client.get("/api/v1/demand-signals?per_page=100").get_json()["items"]
    assert {s["icb"]["code"] for s in signals} == {"QOP", "QMJ", "Q9W"}
    open_ = [s for s in signals if s["status"] == "open"]
    assert len(open_) == 6 and {s["min_esf_tier"] for s in open_} == {"A", "B", "C"}
    assert {stage for s in open_ for stage in s["pathway_stages"]} == {
        "prevention", "referral_triage", "diagnosis", "treatment", "follow_up"}
    assert sum(s["indicative_budget_pence"] is not None for s in open_) == 5

    by_title = {s["title"]: s for s in signals}

    def names(title: str, near: bool = False) -> dict[str, list[str]]:
        path = (f"/api/v1/demand-signals/{by_title[title]['id']}/matches"
                f"?near_misses={str(near).lower()}")
        return {i["innovation"]["name"]: i["lacks"] for i in client.get(path).get_json()["items"]}

    faster = "Faster diagnosis for urgent suspected cancer referrals"
    assert list(names(faster)) == ["Clearpath Referral Triage"]
    assert names("Lung nodule detection on chest CT", near=True)[
        "Oncoview Lung Nodule AI"] == ["central approval under review"]
    lacks = names("Pre-filled consent before chemotherapy", near=True)["Consentic eConsent"]
    assert lacks[0].startswith("approval expires ") and "before the needed-by" in lacks[0]

    national = client.get("/api/v1/demand/summary").get_json()
    assert national["total"]["open_signals"] == 6 and national["total"]["icbs"] == 3
    gaps = {row["category"] for row in national["by_category"] if row["supply_gap"]}
    assert gaps == {"cancer.follow_up", "cancer.diagnostics"}
