"""The embedded broker and topic setup, against a real Kafka-protocol broker (no mocks).

Events are checked with the ``cloudevents`` SDK's Kafka binding, an independent
decoder of the CONTRACT.md binary mode, so a mistake in our own header handling
can't hide behind a matching mistake in the test.
"""
from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.structs import OffsetAndMetadata

from events.broker import (
    BOOTSTRAP_ENV,
    TANSU_BIN_ENV,
    BrokerError,
    EmbeddedBroker,
    bootstrap_servers_from_env,
    find_tansu_binary,
)
from events.topics import (
    DLQ_RETENTION_MS,
    DOMAIN_RETENTION_MS,
    TOPIC_SPECS,
    TopicSpec,
    effective_specs,
    ensure_topics,
)
from schemas.events.topics import ALL_TOPICS, dlq_topic
from tests.kafka_fixtures import kafka_bootstrap  # noqa: F401

pytestmark = pytest.mark.kafka

needs_embedded = pytest.mark.skipif(
    bootstrap_servers_from_env() is not None,
    reason=f"{BOOTSTRAP_ENV} is set: tests use that cluster and start no tansu",
)


def unique(prefix: str) -> str:
    """A fresh name, so tests stay independent on a shared or external broker."""
    return f"test.{prefix}.{uuid.uuid4().hex[:12]}"


def admin_client(bootstrap: str) -> KafkaAdminClient:
    return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="test-broker")


def decode_cloudevent(headers: list[tuple[str, bytes]], key: bytes | None, value: bytes) -> Any:
    """Decode a binary-mode record with the cloudevents SDK (2.x core binding)."""
    from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
    from cloudevents.core.formats.json import JSONFormat

    return from_binary(KafkaMessage(headers=dict(headers), key=key, value=value), JSONFormat())


# -- environment helpers ---------------------------------------------------------------


def test_bootstrap_servers_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BOOTSTRAP_ENV, raising=False)
    assert bootstrap_servers_from_env() is None
    monkeypatch.setenv(BOOTSTRAP_ENV, "  ")
    assert bootstrap_servers_from_env() is None
    monkeypatch.setenv(BOOTSTRAP_ENV, "kafka-1:9092,kafka-2:9092")
    assert bootstrap_servers_from_env() == "kafka-1:9092,kafka-2:9092"


@needs_embedded
def test_tansu_bin_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.delenv(TANSU_BIN_ENV, raising=False)
    bundled = find_tansu_binary()
    assert os.access(bundled, os.X_OK)
    monkeypatch.setenv(TANSU_BIN_ENV, str(bundled))
    assert find_tansu_binary() == bundled
    monkeypatch.setenv(TANSU_BIN_ENV, str(tmp_path / "no-such-tansu"))
    with pytest.raises(BrokerError, match=TANSU_BIN_ENV):
        find_tansu_binary()


def test_env_overrides_partitions_and_replication(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "12")
    monkeypatch.setenv("KAFKA_REPLICATION_FACTOR", "3")
    specs = effective_specs()
    assert {(s.partitions, s.replication_factor) for s in specs} == {(12, 3)}
    assert {s.configs()["min.insync.replicas"] for s in specs} == {"2"}
    assert {s.replication_factor for s in effective_specs(replication_factor=1)} == {1}
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "zero")
    with pytest.raises(ValueError, match="KAFKA_TOPIC_PARTITIONS"):
        effective_specs()


def test_topic_specs_cover_contract() -> None:
    by_name = {s.name: s for s in TOPIC_SPECS}
    assert set(by_name) == set(ALL_TOPICS) | {dlq_topic(t) for t in ALL_TOPICS}
    for topic in ALL_TOPICS:
        assert by_name[topic].retention_ms == DOMAIN_RETENTION_MS == 7 * 86_400_000
        assert by_name[dlq_topic(topic)].retention_ms == DLQ_RETENTION_MS == 30 * 86_400_000
    assert {s.partitions for s in TOPIC_SPECS} == {3}
    assert {s.configs()["cleanup.policy"] for s in TOPIC_SPECS} == {"delete"}


# -- topics on the broker ----------------------------------------------------------------


def test_ensure_topics_creates_each_topic_once(kafka_bootstrap: str) -> None:  # noqa: F811
    """Prefixed copies of TOPIC_SPECS: all created on the first call, none on the second."""
    prefix = unique("topics")
    specs = [replace(s, name=f"{prefix}.{s.name}") for s in TOPIC_SPECS]
    names = [s.name for s in specs]
    try:
        assert ensure_topics(kafka_bootstrap, specs) == names
        assert ensure_topics(kafka_bootstrap, specs) == []

        admin = admin_client(kafka_bootstrap)
        try:
            assert set(names) <= set(admin.list_topics())
            described = {t["name"]: t for t in admin.describe_topics(names)}
            assert {len(described[n]["partitions"]) for n in names} == {3}
            # "all": tansu reports every topic config as DEFAULT_CONFIG (see docs/kafka.md).
            configs = admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, n) for n in names],
                config_filter="all",
            )["topic"]
            for spec in specs:
                assert configs[spec.name]["retention.ms"]["value"] == str(spec.retention_ms)
                assert configs[spec.name]["cleanup.policy"]["value"] == "delete"
        finally:
            admin.close()
    finally:
        admin = admin_client(kafka_bootstrap)
        try:
            admin.delete_topics(names)
        finally:
            admin.close()


def test_ensure_topics_for_the_contract_topics(kafka_bootstrap: str) -> None:  # noqa: F811
    created = ensure_topics(kafka_bootstrap)
    expected = [s.name for s in TOPIC_SPECS]
    # Another test on the same broker may have created some of them already.
    assert set(created) <= set(expected)
    admin = admin_client(kafka_bootstrap)
    try:
        assert set(expected) <= set(admin.list_topics())
    finally:
        admin.close()
    assert ensure_topics(kafka_bootstrap) == []


# -- produce and consume a CloudEvent ------------------------------------------------------


def test_cloudevent_round_trip_binary_mode(kafka_bootstrap: str) -> None:  # noqa: F811
    """Idempotent acks=all producer -> group consumer -> cloudevents SDK decoder."""
    topic = unique("events")
    assert ensure_topics(kafka_bootstrap, [TopicSpec(topic)]) == [topic]
    innovation_id = str(uuid.uuid4())
    events = []
    for n, name in enumerate(("innovation.listed", "innovation.updated", "innovation.withdrawn")):
        occurred = datetime(2026, 5, 4, 3, 2, 1, 123000 + n, tzinfo=UTC)
        events.append(
            {
                "id": str(uuid.uuid4()),
                "source": "/marketplace",
                "type": f"uk.nhs.marketplace.{name}.v1",
                "time": occurred,
                "subject": f"innovation/{innovation_id}",
                "data": {"innovation_id": innovation_id, "seq": n, "name": "Sepsis alert"},
            }
        )

    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap,
        client_id="test-producer",
        enable_idempotence=True,
        acks="all",
    )
    try:
        sent = []
        for event in events:
            headers = [
                ("ce_specversion", b"1.0"),
                ("ce_id", event["id"].encode()),
                ("ce_source", event["source"].encode()),
                ("ce_type", event["type"].encode()),
                ("ce_time", event["time"].isoformat().replace("+00:00", "Z").encode()),
                ("ce_subject", event["subject"].encode()),
                ("content-type", b"application/json"),
            ]
            future = producer.send(
                topic,
                key=innovation_id.encode(),
                value=json.dumps(event["data"]).encode(),
                headers=headers,
            )
            sent.append(future.get(timeout=10))
        producer.flush(timeout=10)
        # The broker handed out a producer id (InitProducerId), i.e. idempotence is on.
        manager = getattr(producer, "_transaction_manager", None)
        if manager is not None:
            assert manager.producer_id_and_epoch.producer_id >= 0
    finally:
        producer.close(timeout=5)

    # One key -> one partition, offsets in send order.
    assert len({m.partition for m in sent}) == 1
    assert [m.offset for m in sent] == sorted(m.offset for m in sent)
    partition = sent[0].partition

    group = unique("group")
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_bootstrap,
        group_id=group,
        client_id="test-consumer",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
    )
    records = []
    try:
        deadline = time.monotonic() + 30  # first join on tansu: ~session_timeout_ms / 2
        while len(records) < len(events) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        assert len(records) == len(events), f"consumed {len(records)} of {len(events)}"

        last = records[-1]
        tp = TopicPartition(topic, last.partition)
        consumer.commit({tp: OffsetAndMetadata(last.offset + 1, None, -1)})
        assert consumer.committed(tp) == last.offset + 1
    finally:
        consumer.close()

    admin = admin_client(kafka_bootstrap)
    try:
        offsets = admin.list_group_offsets(group)[group]
        assert offsets[TopicPartition(topic, partition)].offset == sent[-1].offset + 1
        admin.delete_topics([topic])
    finally:
        admin.close()

    for event, record, meta in zip(events, records, sent, strict=True):
        assert (record.partition, record.offset) == (meta.partition, meta.offset)
        assert record.key == innovation_id.encode()
        decoded = decode_cloudevent(record.headers, record.key, record.value)
        assert decoded.get_specversion() == "1.0"
        assert decoded.get_id() == event["id"]
        assert decoded.get_source() == event["source"]
        assert decoded.get_type() == event["type"]
        assert decoded.get_time() == event["time"]
        assert decoded.get_subject() == event["subject"]
        assert decoded.get_datacontenttype() == "application/json"
        assert decoded.get_extension("partitionkey") == innovation_id
        assert decoded.get_data() == event["data"]
        assert sorted(name for name, _ in record.headers) == sorted(
            ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject",
             "content-type"]
        )


# -- lifecycle of the embedded broker ------------------------------------------------------


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@needs_embedded
def test_stop_frees_port_and_reaps_process() -> None:
    broker = EmbeddedBroker()
    with broker:
        host, port, pid = broker.host, broker.port, broker.pid
        assert port is not None and pid is not None
        assert broker.bootstrap_servers == f"127.0.0.1:{port}"
        assert broker.startup_seconds is not None and broker.startup_seconds < 10
        assert not port_is_free(host, port)
        admin = admin_client(broker.bootstrap_servers)
        try:
            assert broker.running
            assert admin.describe_cluster()["brokers"][0]["port"] == port
        finally:
            admin.close()
    assert not broker.running
    assert not process_exists(pid)  # reaped: no zombie left holding the pid
    assert port_is_free(host, port)
    with pytest.raises(BrokerError):
        _ = broker.bootstrap_servers
    broker.stop()  # idempotent


@needs_embedded
def test_busy_port_is_an_error_not_a_second_broker() -> None:
    with EmbeddedBroker() as first:
        with pytest.raises(BrokerError, match="in use"):
            EmbeddedBroker(port=first.port, startup_timeout=10).start()
        assert first.running
