"""Settings from the environment, with a `.env` file in the working directory as a fallback."""

from __future__ import annotations

import os
from functools import cache


@cache
def _load_dotenv() -> None:
    from dotenv import load_dotenv

    load_dotenv(".env", override=False)


def setting(name: str, default: str) -> str:
    _load_dotenv()
    value = os.environ.get(name, "").strip()
    return value or default


def number(name: str, default: float) -> float:
    raw = setting(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a number; fix it in the environment or .env") from None


def numbers(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = setting(name, ",".join(map(str, default)))
    try:
        values = tuple(float(x) for x in raw.split(","))
    except ValueError:
        values = ()
    if len(values) != len(default):
        raise SystemExit(f"{name}={raw!r} must be {len(default)} comma-separated numbers; fix it in the environment or .env")
    return values


CORPUS = "QA_CORPUS"
INDEX = "QA_INDEX"


def corpus_dir() -> str:
    return setting(CORPUS, "seeds")


def index_dir() -> str:
    return setting(INDEX, ".index")
