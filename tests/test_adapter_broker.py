"""Trust adapters against the real broker: two trusts fed the same stream agree, a replay
from the beginning reproduces the register and the files byte for byte, acks are
binary-mode CloudEvents, and a poison event goes to the DLQ while the adapter carries on."""
from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError
from sqlalchemy import select

from adapters import register, route
from events.cloudevents import envelope_from_record
from schemas.events import registry
from schemas.events.topics import dlq_topic
from tests.adapter_support import (
    TRUST_A,
    TRUST_B,
    Stream,
    applied,
    broker_adapter,
    data_for,
    drain,
    files,
    fresh_topics,
    publish,
    two_trust_story,
    wait_assigned,
)
from tests.event_helpers import read_from

pytestmark = pytest.mark.kafka


def _state(adapter: object) -> tuple[str, str, dict[str, int]]:
    with adapter.engine.connect() as conn:  # type: ignore[attr-defined]
        shared, everything = register.hashes(conn)
        return shared, everything, register.counts(conn)


def test_two_trusts_agree_and_a_replay_reproduces_register_and_files(
        tmp_path: Path, bootstrap: str) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    stream = two_trust_story()
    a = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A)
    b = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_B)
    wait_assigned(a, b)
    publish(bootstrap, topic, stream.events)
    total = len(stream.events)
    drain([a, b], lambda: applied(a) == applied(b) == total)
    a.maybe_ack(force=True)
    b.maybe_ack(force=True)

    (shared_a, all_a, counts_a), (shared_b, all_b, counts_b) = _state(a), _state(b)
    assert shared_a == shared_b, "same events, same route: same shared state"
    assert all_a != all_b  # each trust's own orders differ
    assert counts_a["purchase_order"] == counts_b["purchase_order"] == 3
    files_a, files_b = files(a.config.out_dir), files(b.config.out_dir)
    # The same kinds of file for the same events; A alone holds a funding line (June).
    assert set(files_a) == {p.replace(TRUST_B, TRUST_A) for p in files_b} | {
        "journal/2026-06.csv"}
    for path, content in files_a.items():  # trust-specific: each trust's own documents
        assert TRUST_A.encode() in content and TRUST_B.encode() not in content, path

    # Acknowledgements: binary-mode CloudEvents from /trusts/<ODS>, keyed by the trust.
    start = {TopicPartition(ack_topic, p): 0 for p in range(3)}
    acks = read_from(bootstrap, start, count=4, timeout=10)
    last = {}
    for record in acks:
        envelope = envelope_from_record(record.key, record.value, record.headers)
        assert envelope.type == registry.by_name("route.applied").ce_type
        assert envelope.source == f"/trusts/{record.key.decode()}"
        assert dict(record.headers)["content-type"] == b"application/json"
        data = registry.validate(envelope.type, json.loads(record.value))
        last[data["trust_ods"]] = (envelope.sequence, data)
    assert set(last) == {TRUST_A, TRUST_B}
    for trust, adapter, shared in ((TRUST_A, a, shared_a), (TRUST_B, b, shared_b)):
        _, data = last[trust]
        assert data["state_hash"] == shared and data["route_version"] == route.ROUTE_VERSION
        assert data["applied_count"] == total
        with adapter.engine.connect() as conn:
            assert data["last_sequence"] == register.last_sequences(
                conn, adapter.config.consumer_name)
    assert last[TRUST_A][1]["last_sequence"] == last[TRUST_B][1]["last_sequence"]
    a.close()
    b.close()

    # Replay: a fresh register and a new group, from the beginning.
    replay = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A, name="replay")
    wait_assigned(replay)
    drain([replay], lambda: applied(replay) == total)
    assert _state(replay)[:2] == (shared_a, all_a)
    assert files(replay.config.out_dir) == files_a, "files must replay byte for byte"
    replay.close()


def test_a_poison_event_goes_to_the_dlq_and_the_adapter_carries_on(
        tmp_path: Path, bootstrap: str) -> None:
    topic, ack_topic = fresh_topics(bootstrap, 2)
    adapter = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A)
    adapter.consumer.retry_backoff = 0.01
    wait_assigned(adapter)
    stream = Stream()
    stream.add("approval.granted", data_for("approval.granted", approval_id="poison-1"))
    stream.add("approval.granted", data_for("approval.granted", approval_id="poison-2"))
    stream.add("approval.granted", data_for("approval.granted", approval_id="fine"))
    not_json, invalid, fine = stream.events
    publish(bootstrap, topic, [not_json], value=lambda env: b"{not json")
    broken = dict(json.loads(invalid[0].data), expires_at="before it was decided")
    publish(bootstrap, topic, [invalid], value=lambda env: json.dumps(broken).encode())
    publish(bootstrap, topic, [fine])

    # First the DLQ is unreachable: the batch fails whole, is rolled back and re-read.
    def unreachable(record: object, error: BaseException) -> None:
        raise KafkaTimeoutError("dead-letter topic unreachable")

    adapter.consumer.dead_letter = unreachable  # type: ignore[method-assign,assignment]
    deadline = time.monotonic() + 15
    with pytest.raises(KafkaTimeoutError):
        while time.monotonic() < deadline:
            adapter.poll_once(100)
    del adapter.consumer.dead_letter  # the real one again
    drain([adapter], lambda: applied(adapter) == 3)
    assert adapter.consumer.stats.dead_lettered == 2
    assert set(_approvals(adapter)) == {"fine"}
    dead = read_from(bootstrap, {TopicPartition(dlq_topic(topic), 0): 0}, count=2,
                     timeout=10)
    errors = sorted(dict(r.headers)["dlq_error"].decode() for r in dead)
    assert len(errors) == 2 and "ValidationError" in errors[1]
    # Both dead events count as consumed: no gap, and the stream moves on.
    assert adapter.consumer.stats.gaps == []
    with adapter.engine.connect() as conn:  # nothing recorded twice across the failed batch
        assert register.applied_by_type(conn, adapter.config.consumer_name) == {
            registry.by_name("approval.granted").ce_type: 3}
    adapter.close()


def test_a_failure_mid_batch_rolls_back_only_that_event(tmp_path: Path, bootstrap: str) -> None:
    """A batch is applied in one transaction without savepoints; when an event fails
    after writing, the batch is applied again event by event, each in a savepoint: the
    failed event's writes are undone and it is dead-lettered, the others applied once."""
    topic, ack_topic = fresh_topics(bootstrap, 2)
    adapter = broker_adapter(tmp_path, bootstrap, topic, ack_topic, TRUST_A)
    adapter.consumer.retry_backoff = 0.01
    stream = Stream()
    for approval in ("before", "fails-after-writing", "after"):
        stream.add("approval.granted", data_for("approval.granted", approval_id=approval))
    records = [SimpleNamespace(topic=topic, partition=0, offset=n, key=env.key.encode(),
                               value=env.data, headers=env.headers())
               for n, (env, _) in enumerate(stream.events)]
    handle = adapter.consumer.handler

    def failing(conn: object, event: object) -> None:
        handle(conn, event)  # type: ignore[arg-type]
        if event.data["approval_id"] == "fails-after-writing":  # type: ignore[attr-defined]
            raise RuntimeError("failed after its writes")

    adapter.consumer.handler = failing
    adapter.consumer.apply_records(records)
    assert set(_approvals(adapter)) == {"before", "after"}
    stats = adapter.consumer.stats
    assert (stats.applied, stats.dead_lettered, stats.retries) == (2, 1, 2)
    with adapter.engine.connect() as conn:
        assert register.applied_by_type(conn, adapter.config.consumer_name) == {
            registry.by_name("approval.granted").ce_type: 3}
        assert register.counts(conn)["approval"] == 2
        digests = conn.execute(select(register.row_digest.c.row_key)).scalars().all()
    assert sorted(digests) == ["after", "before"]  # the state hash covers only what stands
    adapter.close()


def _approvals(adapter: object) -> dict[str, object]:
    with adapter.engine.connect() as conn:  # type: ignore[attr-defined]
        return {r["approval_id"]: r for r in register.SqlView(conn).where("approval")}
