"""Dates at the edge of the calendar in a submission: a clear 422, never a 500."""
from __future__ import annotations

import pytest

from tests.catalogue_support import World, world_fixture  # noqa: F401  (`world`)


@pytest.mark.parametrize(("section", "values", "field"), [
    ("c3_technical_security", {"penetration_test_on": "9999-12-31"}, "penetration_test_on"),
    ("c3_technical_security", {"penetration_test_on": "2026-11-22"}, "penetration_test_on"),
])
def test_evidence_dated_in_the_future_or_past_the_calendar_is_refused(
        world: World, section: str, values: dict[str, str], field: str) -> None:
    listing = world.published()
    problem = world.submit(listing["id"], expect=422, **{section: values})
    assert field in problem["errors"]
    assert world.call("GET", "/approvals", "assessor", 200).get_json()["total"] == 0


@pytest.mark.parametrize("day", ["9999-12-31", "9999-01-01"])
def test_certificates_valid_to_the_last_year_of_the_calendar_are_accepted(
        world: World, day: str) -> None:
    listing = world.published()
    approval = world.submit(listing["id"], c3_technical_security={
        "cyber_essentials_expires_on": day}, device={"device_certificate_expires_on": day})
    assert approval["status"] == "submitted"
