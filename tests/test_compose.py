"""Static checks of the production-like Docker Compose stack (compose.yaml).

Docker is not needed: the file is parsed with PyYAML (which resolves the
``<<`` merge keys and ``&``/``*`` anchors the file uses) and checked against the
public contract in CONTRACT.md (Configuration and Command line sections).
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# Oracle, copied from the contract's "Command line" tables: sub-command words and
# the options each command accepts. Nothing else may be invoked by the stack.
MARKETPLACE_COMMANDS: dict[tuple[str, ...], set[str]] = {
    ("db", "upgrade"): set(),
    ("org", "add"): {"--ods", "--kind", "--name", "--parent"},
    ("token", "create"): {"--ods", "--role", "--name"},
    ("token", "revoke"): set(),
    ("serve",): {"--port"},
    ("relay",): set(),
    ("tick",): set(),
    ("seed-demo",): set(),
    ("dev",): set(),
    # Beyond CONTRACT.md: the event-backbone issue's commands.
    ("events", "topics"): set(),
    ("acks",): set(),
    ("events", "schemas"): {"--out"},
}
TRUST_ADAPTER_COMMANDS: dict[tuple[str, ...], set[str]] = {
    ("run",): {"--trust", "--out", "--register-url", "--webhook"},
    ("status",): {"--out"},
}
ORACLE = {"marketplace": MARKETPLACE_COMMANDS, "trust-adapter": TRUST_ADAPTER_COMMANDS}

APP_SERVICES = ("migrate", "web", "relay", "tick", "acks")
ADAPTERS = ("adapter-rxx", "adapter-ryy")
REQUIRED_SERVICES = ("postgres", "kafka", *APP_SERVICES, *ADAPTERS)

SHELLS = {"sh", "/bin/sh", "bash", "/bin/bash"}
SHELL_SEPARATORS = {";", "&&", "||", "|", "&", "(", ")", ";;"}
SHELL_KEYWORDS = {"do", "then", "else", "while", "until", "if", "!", "{", "exec"}


@pytest.fixture(scope="module")
def compose() -> dict:
    with COMPOSE.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    assert isinstance(data, dict), "compose.yaml must be a mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    svcs = compose.get("services")
    assert isinstance(svcs, dict) and svcs, "compose.yaml has no services"
    return svcs


# --------------------------------------------------------------------------- helpers


def env_of(service: dict) -> dict[str, str | None]:
    """The service's environment as a dict (compose allows a mapping or a list)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def argv(value: str | list | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def invocations(service: dict) -> list[list[str]]:
    """Every ``marketplace`` / ``trust-adapter`` call in the service's command,
    including calls inside a ``sh -c`` script."""
    words = argv(service.get("entrypoint")) + argv(service.get("command"))
    scripts: list[str] = []
    if words and words[0] in SHELLS and "-c" in words:
        scripts = words[words.index("-c") + 1 :]
    else:
        return [words] if words and words[0] in ORACLE else []
    calls = []
    for script in scripts:
        lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        simple: list[str] = []
        for token in [*lexer, ";"]:
            if token in SHELL_SEPARATORS:
                while simple and simple[0] in SHELL_KEYWORDS:
                    simple.pop(0)
                if simple and simple[0] in ORACLE:
                    calls.append(simple)
                simple = []
            else:
                simple.append(token)
    return calls


def check_against_oracle(call: list[str]) -> None:
    program, args = call[0], call[1:]
    table = ORACLE[program]
    matches = [sub for sub in table if tuple(args[: len(sub)]) == sub]
    assert matches, f"{' '.join(call)!r}: not a {program} command in CONTRACT.md"
    sub = max(matches, key=len)
    options = {a.split("=", 1)[0] for a in args[len(sub) :] if a.startswith("--")}
    unknown = options - table[sub]
    assert not unknown, f"{' '.join(call)!r}: options {sorted(unknown)} not in CONTRACT.md"


def depends_on(service: dict) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form means service_started
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    assert test, "missing healthcheck.test"
    return " ".join(argv(test))


# --------------------------------------------------------------------------- the tests


def test_helpers_reject_what_the_contract_does_not_list() -> None:
    """The oracle check itself must be able to fail."""
    for bad in (
        ["marketplace", "migrate"],
        ["marketplace", "db", "downgrade"],
        ["marketplace", "serve", "--workers", "4"],
        ["trust-adapter", "consume", "--trust", "RXA"],
    ):
        with pytest.raises(AssertionError):
            check_against_oracle(bad)
    looped = {"command": ["sh", "-c", "while true; do marketplace tick; sleep 60; done"]}
    assert invocations(looped) == [["marketplace", "tick"]]


def test_required_services_exist(services: dict) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services]
    assert not missing, f"services missing from compose.yaml: {missing}"


def test_no_zookeeper_anywhere(compose: dict, services: dict) -> None:
    # The parsed content, so a comment saying "no ZooKeeper" is fine.
    assert "zookeeper" not in yaml.safe_dump(compose).lower()
    for name, svc in services.items():
        assert "zookeeper" not in name.lower()
        assert "zookeeper" not in str(svc.get("image", "")).lower()
        assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in env_of(svc)), name


def test_kafka_is_apache_kafka_in_kraft_mode(services: dict) -> None:
    kafka = services["kafka"]
    assert str(kafka.get("image", "")).startswith("apache/kafka:"), kafka.get("image")
    env = env_of(kafka)
    roles = {r.strip() for r in (env.get("KAFKA_PROCESS_ROLES") or "").split(",")}
    assert roles == {"broker", "controller"}, roles
    for key in (
        "KAFKA_NODE_ID",
        "KAFKA_CONTROLLER_QUORUM_VOTERS",
        "KAFKA_CONTROLLER_LISTENER_NAMES",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
        "CLUSTER_ID",
    ):
        assert env.get(key), f"kafka: {key} not set"
    listeners = env.get("KAFKA_LISTENERS") or ""
    assert "PLAINTEXT://" in listeners and "CONTROLLER://" in listeners, listeners
    assert env.get("KAFKA_ADVERTISED_LISTENERS") == "PLAINTEXT://kafka:9092"
    controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert controller in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    node_id = env["KAFKA_NODE_ID"]
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{node_id}@kafka:")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", env["CLUSTER_ID"]), "CLUSTER_ID: base64 UUID"
    assert str(env.get("KAFKA_AUTO_CREATE_TOPICS_ENABLE")).lower() == "false"
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env.get(key) == "1", f"kafka: {key} must be 1 on a single node"


def test_topics_of_the_contract_are_created(services: dict) -> None:
    """Auto-creation is off, so a one-shot creates the topics declared in events/topics.py
    (which tests/test_broker.py checks against the contract) before anything uses them."""
    creators = [name for name, svc in services.items()
                if ["marketplace", "events", "topics"] in invocations(svc)]
    assert creators == ["kafka-init"]
    for name in ("relay", "acks", *ADAPTERS):
        depends = services[name].get("depends_on", {})
        assert depends.get("kafka-init", {}).get("condition") == "service_completed_successfully"


@pytest.mark.parametrize("name", ["postgres", "kafka", "web"])
def test_healthchecks(services: dict, name: str) -> None:
    text = healthcheck_text(services[name])
    expected = {
        "postgres": "pg_isready",
        "kafka": "/opt/kafka/bin/kafka-broker-api-versions.sh --bootstrap-server localhost:9092",
        "web": "http://localhost:8000/healthz",
    }[name]
    assert expected in text, f"{name} healthcheck: {text!r}"


def test_postgres(services: dict) -> None:
    pg = services["postgres"]
    assert str(pg.get("image")) == "postgres:16"
    assert env_of(pg).get("POSTGRES_PASSWORD")
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in pg.get("volumes", []))


def test_web_publishes_port_8000_and_serves(services: dict) -> None:
    web = services["web"]
    ports = [str(p) if not isinstance(p, dict) else f"{p['published']}:{p['target']}"
             for p in web.get("ports", [])]
    assert any(p.split(":")[-2:] == ["8000", "8000"] for p in ports), ports
    assert invocations(web) == [["marketplace", "serve", "--port", "8000"]]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_share_environment(services: dict, name: str) -> None:
    svc = services[name]
    assert svc.get("build") is not None, f"{name}: must be built from this repository"
    env = env_of(svc)
    url = urlsplit(env.get("DATABASE_URL") or "")
    assert url.scheme.startswith("postgresql"), f"{name}: DATABASE_URL {url.geturl()!r}"
    assert url.hostname == "postgres", f"{name}: DATABASE_URL host {url.hostname!r}"
    assert url.path == "/marketplace"
    assert env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092", name
    secret = env.get("SECRET_KEY") or ""
    assert secret.startswith("${SECRET_KEY"), f"{name}: SECRET_KEY must come from the env"
    for key in ("STRIPE_API_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET"):
        assert key in env, f"{name}: {key} not passed through"
        value = env[key]
        assert value is None or value.startswith(f"${{{key}"), f"{name}: {key} = {value!r}"


def test_app_services_share_one_environment_definition(services: dict) -> None:
    envs = [env_of(services[name]) for name in APP_SERVICES]
    assert all(env == envs[0] for env in envs), "app services' environments differ"


def test_adapters(services: dict) -> None:
    trusts, volumes = [], []
    for name in ADAPTERS:
        svc = services[name]
        calls = invocations(svc)
        assert len(calls) == 1 and calls[0][:2] == ["trust-adapter", "run"], (name, calls)
        args = calls[0]
        trust = args[args.index("--trust") + 1]
        out = args[args.index("--out") + 1]
        assert re.fullmatch(r"[RT][A-Z0-9]{2}", trust), f"{name}: bad trust ODS {trust!r}"
        mounts = [str(v).split(":") for v in svc.get("volumes", [])]
        named = [m[0] for m in mounts if len(m) >= 2 and m[1] == out]
        assert len(named) == 1, f"{name}: --out {out} is not on a volume"
        assert "/" not in named[0] and not named[0].startswith("."), "use a named volume"
        env = env_of(svc)
        assert env.get("KAFKA_BOOTSTRAP_SERVERS") == "kafka:9092", name
        assert "DATABASE_URL" not in env, f"{name}: a trust adapter gets no marketplace DB"
        trusts.append(trust)
        volumes.append(named[0])
    assert len(set(trusts)) == len(ADAPTERS), f"adapters share a trust: {trusts}"
    assert len(set(volumes)) == len(ADAPTERS), f"adapters share a volume: {volumes}"


def test_named_volumes_are_declared(compose: dict, services: dict) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in services.items():
        for vol in svc.get("volumes", []) or []:
            source = str(vol).split(":")[0]
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name}: volume {source!r} not declared"


def test_depends_on_conditions(services: dict) -> None:
    web = depends_on(services["web"])
    assert web.get("migrate") == "service_completed_successfully", web
    assert web.get("kafka") == "service_healthy", web
    assert depends_on(services["migrate"]).get("postgres") == "service_healthy"
    for name in ("relay", "tick"):
        assert depends_on(services[name]).get("migrate") == "service_completed_successfully"
    assert depends_on(services["relay"]).get("kafka") == "service_healthy"
    for name in ADAPTERS:
        assert depends_on(services[name]).get("kafka") == "service_healthy", name
    for name, svc in services.items():
        for dep in depends_on(svc):
            assert dep in services, f"{name} depends on unknown service {dep!r}"


def test_migrate_is_one_shot(services: dict) -> None:
    migrate = services["migrate"]
    assert invocations(migrate) == [["marketplace", "db", "upgrade"]]
    assert str(migrate.get("restart", "no")) in {"no", "False", "false"}


def test_relay_and_tick(services: dict) -> None:
    assert invocations(services["relay"]) == [["marketplace", "relay"]]
    tick = services["tick"]
    assert invocations(tick) == [["marketplace", "tick"]]
    script = " ".join(argv(tick.get("command")))
    assert "sleep 60" in script and "while" in script, script


def test_every_command_is_in_the_contract(services: dict) -> None:
    for name, svc in services.items():
        if svc.get("build") is None:
            continue
        calls = invocations(svc)
        assert calls, f"{name}: runs neither marketplace nor trust-adapter"
        for call in calls:
            check_against_oracle(call)


def test_dockerfile() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    users = [ln.split()[1] for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in {"root", "0"}, "image must run as a non-root user"
    assert any(re.match(r"RUN pip install \.(\s|$)", ln) for ln in lines)
    cmd = [ln for ln in lines if ln.startswith("CMD ")]
    assert cmd and "marketplace" in cmd[-1] and "serve" in cmd[-1], cmd
    assert not any(ln.startswith("ENTRYPOINT") for ln in lines)


def test_dockerignore_keeps_local_state_out() -> None:
    entries = {ln.strip().rstrip("/") for ln in DOCKERIGNORE.read_text().splitlines()}
    for required in (".git", ".venv", "instance", ".env"):
        assert required in entries, f".dockerignore lacks {required}"
    assert "README.md" not in entries  # packaging metadata may read it
