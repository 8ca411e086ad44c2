"""Where an index lives: FAISS + SQLite files in a folder (default), or PostgreSQL + pgvector.

Everything above this package talks to `base.Index` (read) and `base.Writer` (build) and never
learns which backend runs. The folder is used by both: it also holds the exported query encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval import settings
from retrieval.backends.base import Index, IndexProblem, StoredChunk, Writer, redact, vector_key

BACKENDS = ("faiss", "postgres")

__all__ = ["BACKENDS", "Index", "IndexProblem", "Location", "StoredChunk", "Writer", "open_index", "open_writer", "vector_key"]


@dataclass(frozen=True)
class Location:
    folder: Path
    backend: str = "faiss"
    database_url: str = ""

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise IndexProblem(f"unknown backend {self.backend!r}; choose one of {', '.join(BACKENDS)} (--backend or QA_BACKEND)")
        if self.backend == "postgres" and not self.database_url:
            raise IndexProblem("the postgres backend needs DATABASE_URL, e.g. postgresql://user:password@host:5432/dbname")
        if self.database_url:
            redact(self.database_url)  # registers its password with the log scrubber before anything logs

    @property
    def may_hold_index(self) -> bool:
        """False only for a FAISS folder that is not there; a database is asked when opened."""
        return self.backend != "faiss" or self.folder.is_dir()

    def __str__(self) -> str:
        if self.backend == "faiss":
            return str(self.folder)
        return "postgres " + redact(self.database_url)


def as_location(where: str | Path | Location) -> Location:
    return where if isinstance(where, Location) else Location(Path(where))


def add_options(parser) -> None:
    parser.add_argument("--index", default=settings.index_dir(), help="index folder; with postgres it holds only the exported query encoder (default: %(default)s, env QA_INDEX)")
    parser.add_argument("--backend", choices=BACKENDS, default=settings.setting("QA_BACKEND", "faiss"), help="where the index lives; postgres connects to DATABASE_URL (default: %(default)s, env QA_BACKEND)")


def from_args(args) -> Location:
    return Location(Path(args.index), args.backend, settings.setting("DATABASE_URL", "") if args.backend == "postgres" else "")


def open_index(where: str | Path | Location, model: str | None = None) -> Index:
    where = as_location(where)
    if where.backend == "postgres":
        from retrieval.backends import postgres

        return postgres.Index.open(where.database_url, model=model)
    from retrieval.backends import faiss_sqlite

    return faiss_sqlite.Index.open(where.folder, model=model)


def open_writer(where: str | Path | Location, rebuild: bool = False) -> Writer:
    where = as_location(where)
    if where.backend == "postgres":
        from retrieval.backends import postgres

        return postgres.Writer(where.database_url, rebuild=rebuild)
    from retrieval.backends import faiss_sqlite

    return faiss_sqlite.Writer(where.folder, rebuild=rebuild)
