"""``marketplace seed-demo`` fills the catalogue across the cancer pathway, safely twice."""
from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient

from marketplace.demo import seed
from marketplace.kernel.unit_of_work import UnitOfWork
from tests.conftest import Clock


def test_demo_catalogue_is_realistic_and_seeding_twice_adds_nothing(
        client: FlaskClient, uow_factory: Callable[..., UnitOfWork], clock: Clock,
        tmp_path: Path) -> None:
    for run in range(2):
        with uow_factory() as uow:
            added = [line for line in seed(uow, tmp_path) if line.startswith("innovation")]
            uow.commit()
        assert (len(added), run) in ((7, 0), (0, 1))
    listed = client.get("/api/v1/innovations?per_page=100").get_json()["items"]
    assert len(listed) == 6  # one stays a draft
    stages = {stage for item in listed for stage in item["pathway_stages"]}
    assert stages == {"prevention", "referral_triage", "diagnosis", "treatment", "follow_up"}
    approved = client.get("/api/v1/innovations?approved=true&per_page=100").get_json()["items"]
    statuses = sorted(item["current_approval"]["status"] for item in approved)
    assert statuses == ["approved", "approved", "approved", "conditional"]
    soon = [item for item in approved
            if item["current_approval"]["expires_at"] < (clock.now + timedelta(days=31))
            .isoformat()]
    assert [item["name"] for item in soon] == ["Consentic eConsent"]
    assert any(item["current_approval"] and item["current_approval"]["status"] ==
               "under_review" for item in listed)
