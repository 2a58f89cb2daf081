"""What every long-running worker shares: its logging and a stop on SIGINT or SIGTERM."""
from __future__ import annotations

import logging
import signal
import threading

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure_logging() -> None:
    """The worker's own INFO lines; kafka-python's INFO (every connection, every metadata
    refresh) would bury them, so its loggers say only warnings and errors."""
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("kafka").setLevel(logging.WARNING)


def stop_on_signals() -> threading.Event:
    """An event set by SIGINT or SIGTERM: the worker's loop ends after its current step."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop
