"""What every entry point shares: one log format, and one way out for errors the user must fix."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from retrieval.errors import SetupError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = {
    "faiss": logging.WARNING,  # which CPU build it picked
    "httpx": logging.WARNING,  # request URLs, which carry the bot token
    "httpcore": logging.WARNING,
    "pypdf": logging.ERROR,  # "EOF marker not found" and the like: a broken PDF is skipped with its reason anyway
}


def setup_logging(level: int = logging.INFO, log_file: Path | None = None) -> None:
    handlers = [logging.StreamHandler(sys.stderr)] + ([logging.FileHandler(log_file)] if log_file else [])
    logging.basicConfig(level=level, format=LOG_FORMAT, handlers=handlers)
    for name, quiet in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet)


def run(body: Callable[[], int]) -> int:
    """Runs an entry point's body; a SetupError becomes "error: …" lines on stderr and exit code 2."""
    try:
        return body()
    except SetupError as exc:
        for line in str(exc).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
