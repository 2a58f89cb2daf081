"""The first run of ``marketplace dev`` (issue 13): the banner comes last and alone, once
the services answer; library chatter goes to ``instance/logs/``; the demo tokens survive
a restart for as long as the database knows them."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from marketplace import migrate
from marketplace.demo import seed
from marketplace.entrypoints.cli import main
from marketplace.entrypoints.command import command_unit_of_work
from marketplace.entrypoints.dev_tokens import DEV_TOKENS, dev_tokens, wanted_tokens
from marketplace.entrypoints.supervisor import Component, LogTail, Supervisor
from marketplace.identity import service as tokens
from marketplace.kernel.db import make_engine
from marketplace.kernel.settings import Settings

BANNER_START = "Web pages"
BANNER_END = "Press Ctrl-C to stop."
# Broker, migrations, seed and five processes, on a shared two-core machine.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 45.0
COMPONENT_LOGS = ("web", "relay", "acks", "adapter-RAL", "adapter-RRV", "broker", "dev")
TOKEN_LINE = re.compile(r"^  (?P<role>\w+)\s+(?P<code>\S+)\s+(?P<token>nhsm_\S+)$")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(url: str, token: str | None = None) -> int:
    """The HTTP status of a GET, asked directly (never through a configured proxy)."""
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _DIRECT.open(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


class DevRun:
    """``marketplace dev`` as a newcomer starts it, its console read line by line."""

    def __init__(self, instance: Path, port: int, cwd: Path) -> None:
        self.port = port
        env = {key: value for key, value in os.environ.items()
               if key not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "SECRET_KEY",
                              "MARKETPLACE_TOKEN")}  # dev must start its own broker
        env.update(MARKETPLACE_INSTANCE=str(instance),
                   DATABASE_URL=f"sqlite:///{instance / 'marketplace.db'}")
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.health_at_banner: int | None = None
        self.banner_seen = threading.Event()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "marketplace.entrypoints.cli", "dev", "--port", str(port)],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self.readers = [threading.Thread(target=self._read_stdout, daemon=True),
                        threading.Thread(target=self._read_stderr, daemon=True)]
        for reader in self.readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line.rstrip("\n"))
            if line.rstrip("\n") == BANNER_END and self.health_at_banner is None:
                # Asked the moment the banner's last line arrives: were the services up?
                self.health_at_banner = _status(f"http://127.0.0.1:{self.port}/healthz")
                self.banner_seen.set()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr.append(line.rstrip("\n"))

    def console(self) -> str:
        return "\n".join(["--- stdout", *self.stdout, "--- stderr", *self.stderr])

    def wait_for_banner(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.banner_seen.wait(0.5):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"no banner within {START_TIMEOUT:.0f} s (exit "
                            f"{self.process.returncode}):\n{self.console()}")

    def stop(self) -> int:
        """Ctrl-C, as a newcomer stops it; bounded, killed (and failed) if it hangs."""
        self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"marketplace dev did not stop within {STOP_TIMEOUT:.0f} s:\n"
                        f"{self.console()}")
        for reader in self.readers:
            reader.join(timeout=10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def banner_tokens(self) -> dict[str, str]:
        """role:code -> token, from the banner's token lines."""
        found = {}
        for line in self.stdout:
            match = TOKEN_LINE.match(line)
            if match:
                code = None if match["code"] == "-" else match["code"]
                found[f"{match['role']}:{code}"] = match["token"]
        return found


@pytest.fixture
def dev_runs(tmp_path: Path) -> Iterator[list[DevRun]]:
    """Every run started is killed at the end, whatever the test did."""
    runs: list[DevRun] = []
    yield runs
    for run in runs:
        run.kill()


def _check_run(run: DevRun, instance: Path) -> dict[str, str]:
    """What every start must show; returns the banner's tokens."""
    run.wait_for_banner()
    assert run.health_at_banner == 200, run.console()
    time.sleep(2)  # anything printed after the banner would show up by now
    stdout = list(run.stdout)
    start = max(i for i, line in enumerate(stdout) if line.startswith(BANNER_START))
    assert stdout[start - 1] == "", "the banner stands apart"
    assert stdout[-1] == BANNER_END, f"the banner is the tail of stdout:\n{run.console()}"
    banner = stdout[start:]
    assert any(line.startswith("Logs") and str(instance / "logs") in line for line in banner)
    found = run.banner_tokens()
    assert len(found) == len(DEV_TOKENS)
    assert all(TOKEN_LINE.match(line) for line in banner if "nhsm_" in line)
    for role_code, token in found.items():
        assert _status(f"http://127.0.0.1:{run.port}/api/v1/audit", token) == 200, role_code
    assert _status(f"http://127.0.0.1:{run.port}/api/v1/audit", "nhsm_not-a-token") == 401
    return found


def _check_quiet_console(run: DevRun, shown: dict[str, str], instance: Path) -> None:
    console = run.stdout + run.stderr
    assert not [line for line in console if re.search(r"\bINFO\b", line)], run.console()
    assert not [line for line in console if re.search(r"\bkafka(\.\w+)+ ", line)]
    assert not [line for line in run.stderr if "nhsm_" in line]
    logs = instance / "logs"
    for name in COMPONENT_LOGS:
        assert (logs / f"{name}.log").stat().st_size > 0, name
    everything = "".join(path.read_text(errors="replace") for path in logs.iterdir())
    assert not [t for t in shown.values() if t in everything], "tokens stay out of the logs"
    assert "INFO kafka" in (logs / "dev.log").read_text(), "library INFO goes to the files"
    relay_log = (logs / "relay.log").read_text()
    assert "relay publishing to" in relay_log
    assert "INFO kafka" not in relay_log, "the workers keep kafka-python at WARNING"
    assert "GET /healthz" in (logs / "web.log").read_text()


@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.timeout(600)
def test_first_run_banner_logs_and_tokens_that_survive_a_restart(
        tmp_path: Path, dev_runs: list[DevRun]) -> None:
    instance, cwd = tmp_path / "instance-under-test", tmp_path / "cwd"
    cwd.mkdir()
    port = _free_port()

    first = DevRun(instance, port, cwd)
    dev_runs.append(first)
    shown = _check_run(first, instance)
    kept = json.loads((instance / "dev_tokens.json").read_text())["tokens"]
    assert stat.S_IMODE((instance / "dev_tokens.json").stat().st_mode) == 0o600
    assert set(shown.values()) < set(kept.values()), "the adapters' tokens are kept too"
    assert first.stop() == 0, first.console()
    assert first.stdout[-1] == "stopped"
    _check_quiet_console(first, shown, instance)

    again = DevRun(instance, port, cwd)
    dev_runs.append(again)
    assert _check_run(again, instance) == shown, "the same tokens after a restart"
    assert json.loads((instance / "dev_tokens.json").read_text())["tokens"] == kept
    assert again.stop() == 0, again.console()
    _check_quiet_console(again, shown, instance)
    assert (instance / "logs" / "relay.log.1").exists(), "the previous run's log is kept"
    assert not (cwd / "instance").exists(), "everything lands in MARKETPLACE_INSTANCE"


def _seeded(tmp_path: Path, name: str) -> Settings:
    settings = Settings(database_url=f"sqlite:///{tmp_path / name}", secret_key="x",
                        evidence_dir=tmp_path / "evidence")
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    engine.dispose()
    with command_unit_of_work(settings) as uow:
        list(seed(uow, settings.evidence_dir))
    return settings


def test_kept_tokens_are_reused_while_live_and_replaced_otherwise(tmp_path: Path) -> None:
    settings, path = _seeded(tmp_path, "a.db"), tmp_path / "dev_tokens.json"
    first = dev_tokens(settings, path)
    assert set(first) == {wanted.key for wanted in wanted_tokens()}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert dev_tokens(settings, path) == first

    with command_unit_of_work(settings) as uow:
        admin = tokens.find_live(uow, first["admin"])
        assert admin is not None
        tokens.revoke(uow, admin.id)
    second = dev_tokens(settings, path)
    assert second["admin"] != first["admin"]
    assert {k: v for k, v in second.items() if k != "admin"} == \
        {k: v for k, v in first.items() if k != "admin"}

    other = _seeded(tmp_path, "b.db")  # as after deleting the database
    third = dev_tokens(other, path)
    assert set(third.values()).isdisjoint(second.values())
    assert json.loads(path.read_text())["tokens"] == third
    with command_unit_of_work(other) as uow:
        for wanted in wanted_tokens():
            token = tokens.find_live(uow, third[wanted.key])
            assert token is not None and str(token.role) == wanted.role
            assert (token.organisation.code if token.organisation else None) == wanted.code


def test_a_broken_tokens_file_means_new_tokens(tmp_path: Path) -> None:
    settings, path = _seeded(tmp_path, "a.db"), tmp_path / "dev_tokens.json"
    path.write_text("{not json")
    issued = dev_tokens(settings, path)
    assert json.loads(path.read_text())["tokens"] == issued


def test_log_tail_passes_on_warnings_errors_and_their_tracebacks(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text(
        "2026-12-01 09:00:00,001 INFO kafka.cluster Updated metadata\n"
        "2026-12-01 09:00:00,002 WARNING events.relay broker slow\n"
        "2026-12-01 09:00:00,003 INFO x continued INFO record\n"
        "  an INFO continuation\n"
        "[2026-12-01 09:00:00 +0000] [12] [INFO] Booting worker\n"
        "[2026-12-01 09:00:00 +0000] [12] [ERROR] Exception in worker\n"
        "Traceback (most recent call last):\n"
        "  File \"x.py\", line 1\n"
        "ValueError: boom\n"
        '127.0.0.1 - - [01/Dec/2026:09:00:00 +0000] "GET /healthz HTTP/1.1" 200 16\n'
        "2026-12-01T09:00:00.1Z  WARN tansu_broker: slow\n"
        "2026-12-01 09:00:00,004 ERROR x half a li")
    tail = LogTail("x", path)
    assert tail.notable_lines() == [
        "2026-12-01 09:00:00,002 WARNING events.relay broker slow",
        "[2026-12-01 09:00:00 +0000] [12] [ERROR] Exception in worker",
        "Traceback (most recent call last):",
        "  File \"x.py\", line 1",
        "ValueError: boom",
        "2026-12-01T09:00:00.1Z  WARN tansu_broker: slow",
    ]
    with path.open("a") as log_file:
        log_file.write("ne\n")
    assert tail.notable_lines() == ["2026-12-01 09:00:00,004 ERROR x half a line"]
    fresh = tmp_path / "crash.log"
    fresh.write_text("Error: Set KAFKA_BOOTSTRAP_SERVERS.\n")
    assert LogTail("y", fresh).notable_lines() == ["Error: Set KAFKA_BOOTSTRAP_SERVERS."]


def test_startup_reports_a_component_that_exits_and_a_web_app_that_never_answers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    crasher = [sys.executable, "-c", "import sys; print('Traceback: it broke'); sys.exit(3)"]
    closed = f"http://127.0.0.1:{_free_port()}/healthz"
    supervisor = Supervisor([Component("web", sleeper), Component("relay", crasher)],
                            dict(os.environ), log_dir=tmp_path / "logs")
    try:
        supervisor.start()
        failure = supervisor.wait_until_up(closed, timeout=60)
    finally:
        supervisor.stop()
    assert failure is not None and failure.startswith("relay exited with 3 during startup")
    assert str(tmp_path / "logs" / "relay.log") in failure
    assert "relay: Traceback: it broke" in capsys.readouterr().err

    supervisor = Supervisor([Component("web", sleeper)], dict(os.environ),
                            log_dir=tmp_path / "logs")
    began = time.monotonic()
    try:
        supervisor.start()
        failure = supervisor.wait_until_up(closed, timeout=1)
    finally:
        supervisor.stop()
    assert failure is not None and "did not answer" in failure and "within 1 s" in failure
    assert time.monotonic() - began < 15


def test_a_port_in_use_is_named_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = CliRunner().invoke(main, ["dev", "--port", str(port)])
    assert result.exit_code == 1
    assert f"port {port} is in use" in result.output
