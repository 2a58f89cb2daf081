"""``marketplace events ...``: JSON Schema export, docs and topic creation."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace.entrypoints.cli import main
from schemas.events import REGISTRY


def test_events_schemas_writes_one_json_schema_per_type(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["events", "schemas", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(tmp_path.glob("*.json"))
    assert {f.stem for f in files} == set(REGISTRY)
    doc = json.loads((tmp_path / "uk.nhs.marketplace.order.placed.v1.json").read_text())
    assert doc["title"] == "uk.nhs.marketplace.order.placed.v1" and "order_id" in doc["required"]


def test_events_docs_matches_the_committed_file(tmp_path: Path) -> None:
    out = tmp_path / "events.md"
    result = CliRunner().invoke(main, ["events", "docs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == Path("docs/events.md").read_text()


@pytest.mark.kafka
def test_events_topics_is_idempotent(kafka_bootstrap: str) -> None:
    env = {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "SECRET_KEY": "x"}
    first = CliRunner().invoke(main, ["events", "topics"], env=env)
    again = CliRunner().invoke(main, ["events", "topics"], env=env)
    assert first.exit_code == again.exit_code == 0, first.output
    assert again.output.strip() == "created: nothing, all topics exist"
