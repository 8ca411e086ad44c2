"""One typed settings object, read once from the environment and `.env`, checked before anything starts.

Every setting is a field of `Settings`, named after its variable (`QA_TOP_K` -> `top_k`), parsed and
validated by `load`, which reports every bad value on a line of its own. Command-line options override
the environment through `load(overrides)`; `add_options` declares the shared ones in one place.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal, get_args, get_origin, get_type_hints

from retrieval.errors import SetupError

DOTENV = Path(".env")  # read from the working directory; real environment variables win over it


Backend = Literal["faiss", "postgres"]
Fusion = Literal["zscore", "rrf"]
Device = Literal["auto", "cpu", "cuda"]
BACKENDS = get_args(Backend)


class SettingsError(SetupError):
    """One line per bad value, each naming the variable and what it accepts."""


@dataclass(frozen=True)
class Settings:
    corpus: Path = field(default=Path("seeds"), metadata={"env": "QA_CORPUS"})
    index: Path = field(default=Path(".index"), metadata={"env": "QA_INDEX"})
    backend: Backend = field(default="faiss", metadata={"env": "QA_BACKEND"})
    database_url: str = field(default="", repr=False, metadata={"env": "DATABASE_URL"})
    pg_ef_search: int = field(default=100, metadata={"env": "QA_PG_EF_SEARCH", "min": 1, "max": 10_000})
    top_k: int = field(default=5, metadata={"env": "QA_TOP_K", "min": 1, "max": 100})
    fusion: Fusion = field(default="zscore", metadata={"env": "QA_FUSION"})
    fusion_weights: tuple[float, float, float, float] = field(default=(0.2, 0.2, 0.4, 0.2), metadata={"env": "QA_FUSION_WEIGHTS"})
    abstain_threshold: float = field(default=0.5, metadata={"env": "QA_ABSTAIN_THRESHOLD", "min": 0.0, "max": 1.0})
    device: Device = field(default="auto", metadata={"env": "QA_DEVICE"})
    telegram_bot_token: str = field(
        default="",
        repr=False,
        metadata={
            "env": "TELEGRAM_BOT_TOKEN",
            "pattern": r"\d+:[A-Za-z0-9_-]{30,}",
            "shape": "a token from @BotFather: digits, a colon, then 30+ letters, digits, - or _",
        },
    )
    telegram_api_base_url: str = field(
        default="",
        metadata={"env": "TELEGRAM_API_BASE_URL", "pattern": r"https?://\S+", "shape": "an http(s) URL such as http://localhost:8081"},
    )
    telegram_allowed_users: frozenset[int] = field(default=frozenset(), metadata={"env": "TELEGRAM_ALLOWED_USERS"})
    telegram_allowed_chats: frozenset[int] = field(default=frozenset(), metadata={"env": "TELEGRAM_ALLOWED_CHATS"})
    telegram_admin_users: frozenset[int] = field(default=frozenset(), metadata={"env": "TELEGRAM_ADMIN_USERS"})
    telegram_send_deadline_s: float = field(default=300.0, metadata={"env": "TELEGRAM_SEND_DEADLINE_S", "min": 1.0, "max": 86_400.0})

    def __post_init__(self):
        if self.backend == "postgres" and not self.database_url:
            raise SettingsError("QA_BACKEND=postgres needs DATABASE_URL, e.g. postgresql://user:password@host:5432/dbname")


def load(environ: dict[str, str] | None = None, overrides: dict | None = None, dotenv: Path | None = None) -> Settings:
    """The settings from `environ` (default: the process environment over `.env`), then `overrides`
    (already typed, from command-line options). Raises SettingsError listing every bad value."""
    values, problems = {}, []
    source = _environment(dotenv or DOTENV) if environ is None else environ
    for f in fields(Settings):
        raw = source.get(f.metadata["env"], "").strip()
        if not raw:
            continue
        try:
            values[f.name] = _parse(f, raw)
        except ValueError as exc:
            shown = "(hidden)" if not f.repr else repr(raw)
            problems.append(f"{f.metadata['env']}={shown}: {exc}")
    if problems:
        raise SettingsError("\n".join(problems))
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return Settings(**values)


def _environment(dotenv: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    merged = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
    merged.update(os.environ)
    return merged


def _parse(f, raw: str):
    kind = get_type_hints(Settings)[f.name]
    if kind is Path:
        return Path(raw)
    if get_origin(kind) is Literal:
        if raw.lower() not in get_args(kind):
            raise ValueError(f"must be one of {', '.join(get_args(kind))}")
        return raw.lower()
    if get_origin(kind) is tuple:
        numbers = _numbers(raw)
        if len(numbers) != len(f.default):
            raise ValueError(f"must be {len(f.default)} comma-separated numbers, e.g. {','.join(map(str, f.default))}")
        return numbers
    if get_origin(kind) is frozenset:
        try:
            return frozenset(int(part) for part in raw.replace(" ", "").split(",") if part)
        except ValueError:
            raise ValueError("must be comma-separated numeric Telegram ids, e.g. 12345,-100678") from None
    if kind in (int, float):
        return _bounded(kind, raw, f.metadata["min"], f.metadata["max"])
    if "pattern" in f.metadata and not re.fullmatch(f.metadata["pattern"], raw):
        raise ValueError(f"must be {f.metadata['shape']}")
    return raw


def _numbers(raw: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in raw.split(","))
    except ValueError:
        return ()


def _bounded(kind, raw: str, low, high):
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"must be {'a whole number' if kind is int else 'a number'} from {low} to {high}") from None
    if not low <= value <= high:
        raise ValueError(f"must be from {low} to {high}")
    return value


def add_options(parser, serving: bool = False) -> None:
    """The options the entry points share; left out, each comes from the environment at `load`."""
    parser.add_argument("--corpus", type=Path, help="folder of articles (default: seeds, env QA_CORPUS)")
    parser.add_argument(
        "--index", type=Path, help="index folder; with postgres it holds only the exported models (default: .index, env QA_INDEX)"
    )
    parser.add_argument(
        "--backend", choices=BACKENDS, help="where the index lives; postgres connects to DATABASE_URL (default: faiss, env QA_BACKEND)"
    )
    if serving:
        parser.add_argument("--no-update", action="store_true", help="answer from the index as it is; do not re-scan the corpus")
        parser.add_argument("--no-watch", action="store_true", help="do not watch the corpus folder for new, edited or deleted articles")


def from_args(args, **more) -> Settings:
    """The environment's settings with the shared command-line options laid over them."""
    overrides = {name: getattr(args, name, None) for name in ("corpus", "index", "backend")}
    return load(overrides={**overrides, **more})
