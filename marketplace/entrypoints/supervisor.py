"""Running ``marketplace dev``'s components: each a process with its log in a file, its
warnings and errors relayed to the console, all stopped together however the run ends."""
from __future__ import annotations

import re
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import click

from marketplace.kernel.settings import INSTANCE_DIR

LOG_DIR = INSTANCE_DIR / "logs"
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.2


@dataclass
class Component:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to the shared environment


def fresh_log(name: str, log_dir: Path = LOG_DIR) -> Path:
    """``instance/logs/<name>.log``, empty; the previous run's is kept as ``.log.1``."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{name}.log"
    if path.exists():
        path.replace(path.with_name(path.name + ".1"))
    path.touch()
    return path


# A line that starts a log record, with its level: logging's and tansu's timestamps,
# gunicorn's "[time] [pid] [LEVEL]"; gunicorn's access lines start records of no level.
_RECORD_LEVEL = re.compile(r"^(?:\d{4}-\d\d-\d\d[ T][\d:.,]+Z?\s+|\[[^\]]+\] \[\d+\] \[)"
                           r"(?P<level>[A-Z]+)\b")
_ACCESS_LINE = re.compile(r'^\S+ \S+ \S+ \[[^\]]+\] "')
_NOTABLE_LEVELS = frozenset({"WARNING", "WARN", "ERROR", "CRITICAL", "FATAL"})


class LogTail:
    """Follows a component's log file and hands on its warnings and errors, with their
    tracebacks; lines before any record (an import error, a click error) count too."""

    def __init__(self, name: str, path: Path) -> None:
        self.name, self.path = name, path
        self._offset = 0
        self._partial = b""
        self._notable = True

    def notable_lines(self, *, final: bool = False) -> list[str]:
        try:
            with self.path.open("rb") as log_file:
                log_file.seek(self._offset)
                data = log_file.read()
        except OSError:
            return []
        self._offset += len(data)
        chunks = (self._partial + data).split(b"\n")
        self._partial = b"" if final else chunks.pop()
        lines = []
        for chunk in chunks:
            line = chunk.decode("utf-8", errors="replace").rstrip()
            record = _RECORD_LEVEL.match(line)
            if record:
                self._notable = record["level"] in _NOTABLE_LEVELS
            elif _ACCESS_LINE.match(line):
                self._notable = False
            if self._notable and line:
                lines.append(line)
        return lines


class Supervisor:
    """Starts the components with their logs in files, relays their warnings and errors,
    and stops them all, whichever way the run ends."""

    def __init__(self, running: list[Component], env: dict[str, str],
                 log_dir: Path = LOG_DIR) -> None:
        self.running = running
        self.env = env
        self.log_dir = log_dir
        self.tails: list[LogTail] = []
        self.stopping = False

    def _stop_soon(self, *_: object) -> None:
        self.stopping = True

    def stop_on_signals(self) -> None:
        """Ctrl-C or SIGTERM ends the wait or the supervision, and then :meth:`stop` runs."""
        signal.signal(signal.SIGINT, self._stop_soon)
        signal.signal(signal.SIGTERM, self._stop_soon)

    def start(self) -> None:
        for component in self.running:
            path = fresh_log(component.name, self.log_dir)
            with path.open("ab") as log_file:  # the child keeps its own descriptor
                component.process = subprocess.Popen(
                    component.argv, env={**self.env, **(component.env or {})},
                    stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
            self.tails.append(LogTail(component.name, path))

    def follow(self, *, final: bool = False) -> None:
        """Echo the warnings and errors logged since last time (stderr: stdout stays ours).
        Not once stopping: Ctrl-C reaches the broker too, and the components' complaints
        about it going are noise (they stay in the log files)."""
        if self.stopping:
            return
        for each in self.tails:
            for line in each.notable_lines(final=final):
                click.echo(f"{each.name}: {line}", err=True)

    def exited(self) -> Component | None:
        for component in self.running:
            assert component.process is not None
            if component.process.poll() is not None:
                return component
        return None

    def _exit_report(self, component: Component, when: str = "") -> str:
        assert component.process is not None
        self.follow(final=True)  # its last words (a traceback) first
        return (f"{component.name} exited with {component.process.returncode}{when} "
                f"(its log: {self.log_dir / (component.name + '.log')})")

    def wait_until_up(self, health_url: str, timeout: float) -> str | None:
        """``None`` once ``health_url`` answers and every component still runs; else why not."""
        deadline = time.monotonic() + timeout
        while not self.stopping:
            self.follow()
            gone = self.exited()
            if gone:
                return self._exit_report(gone, " during startup")
            if _answers(health_url):
                gone = self.exited()
                return self._exit_report(gone, " during startup") if gone else None
            if time.monotonic() >= deadline:
                return (f"the web app did not answer {health_url} within {timeout:.0f} s "
                        f"(its log: {self.log_dir / 'web.log'})")
            time.sleep(POLL_SECONDS)
        return "stopped before the services were up"

    def supervise(self) -> int:
        """Until Ctrl-C (or SIGTERM), or a component exits: then its code."""
        while not self.stopping:
            self.follow()
            gone = self.exited()
            if gone:
                click.echo(self._exit_report(gone) + ": stopping the others", err=True)
                assert gone.process is not None
                return gone.process.returncode or 1
            time.sleep(POLL_SECONDS)
        return 0

    def stop(self) -> None:
        for component in self.running:
            if component.process and component.process.poll() is None:
                component.process.terminate()
        for component in self.running:
            if component.process:
                try:
                    component.process.wait(timeout=STOP_TIMEOUT_SECONDS)
                except subprocess.TimeoutExpired:
                    click.echo(f"{component.name} did not stop within "
                               f"{STOP_TIMEOUT_SECONDS:.0f} s: killed", err=True)
                    component.process.kill()
                    component.process.wait()


def _answers(url: str) -> bool:
    """True when ``url`` gives a 200, asked directly (an HTTP proxy setting must not
    answer for a local port)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=1) as response:
            return bool(response.status == 200)
    except (OSError, ValueError):
        return False
