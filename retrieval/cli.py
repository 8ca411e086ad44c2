"""What every entry point shares: one log format, and one way out for errors the user must fix."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from retrieval.errors import SetupError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = ("faiss", "httpx", "httpcore")  # CPU-feature probing; request URLs that carry the bot token


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(stream=sys.stderr, level=level, format=LOG_FORMAT)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def run(body: Callable[[], int]) -> int:
    """Runs an entry point's body; a SetupError becomes "error: …" lines on stderr and exit code 2."""
    try:
        return body()
    except SetupError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
