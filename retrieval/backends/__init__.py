"""Where an index lives: FAISS + SQLite files in a folder (default), or PostgreSQL + pgvector.

Everything above this package talks to `base.Index` (read) and `base.Writer` (build) and never
learns which backend runs. The folder is used by both: it also holds the exported query encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from retrieval.backends.base import Index, StoredChunk, Writer, redact, vector_key
from retrieval.errors import IndexProblem
from retrieval.settings import BACKENDS, Settings

__all__ = ["BACKENDS", "Index", "IndexProblem", "Location", "StoredChunk", "Writer", "location", "open_index", "open_writer", "vector_key"]


@dataclass(frozen=True)
class Location:
    folder: Path
    backend: str = "faiss"
    database_url: str = ""
    ef_search: int = 100  # postgres: HNSW candidates per query (QA_PG_EF_SEARCH)

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


def location(settings: Settings) -> Location:
    """Where the settings say the index lives."""
    return Location(
        settings.index, settings.backend, settings.database_url if settings.backend == "postgres" else "", settings.pg_ef_search
    )


def open_index(where: str | Path | Location, model: str | None = None) -> Index:
    where = as_location(where)
    if where.backend == "postgres":
        from retrieval.backends import postgres

        return postgres.Index.open(where.database_url, model=model, ef_search=where.ef_search)
    from retrieval.backends import faiss_sqlite

    return faiss_sqlite.Index.open(where.folder, model=model)


def open_writer(where: str | Path | Location, rebuild: bool = False) -> Writer:
    where = as_location(where)
    if where.backend == "postgres":
        from retrieval.backends import postgres

        return postgres.Writer(where.database_url, rebuild=rebuild)
    from retrieval.backends import faiss_sqlite

    return faiss_sqlite.Writer(where.folder, rebuild=rebuild)
