"""The index on disk: SQLite (articles, chunks, FTS5, vector cache) plus one FAISS file.

SQLite is the source of truth. The FAISS file is derived from it and named by a generation
number that SQLite records, so a reader always pairs the database with the matching file and
a build killed half-way leaves the previous pair intact.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.text import query_terms

DB_NAME = "index.sqlite"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    article_id TEXT NOT NULL REFERENCES articles(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    sentences TEXT NOT NULL,
    vector_key TEXT NOT NULL,
    sentence_keys TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_article ON chunks(article_id);
CREATE TABLE IF NOT EXISTS vectors (key TEXT PRIMARY KEY, vec BLOB NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    title, text, tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

class IndexProblem(RuntimeError):
    """An index that is missing, corrupt, or built differently; the message says how to fix it."""


def vector_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode("utf-8")).hexdigest()


def faiss_path(folder: Path, generation: int) -> Path:
    return folder / f"vectors.{generation}.faiss"


def connect(folder: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(folder / DB_NAME, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@dataclass(frozen=True)
class StoredChunk:
    rowid: int
    id: str
    article_id: str
    title: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]
    sentence_keys: tuple[str, ...]  # vector cache keys, one per sentence

    def sentence_texts(self) -> list[str]:
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]


class Index:
    """Read side of an index folder. Thread-safe for concurrent readers."""

    def __init__(self, folder: Path, conn: sqlite3.Connection, meta: dict[str, str], vectors):
        self.folder = folder
        self.conn = conn
        self.meta = meta
        self.vectors = vectors  # faiss index with chunk rowids as ids
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()  # one connection, many answering threads

    def _rows(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    @classmethod
    def open(cls, folder: str | Path, model: str | None = None) -> "Index":
        import faiss

        faiss.omp_set_num_threads(1)  # one query needs one thread; a pool costs 20x on 2 busy cores
        folder = Path(folder)
        if not (folder / DB_NAME).exists():
            raise IndexProblem(
                f"no index in {folder}; build one with: python -m retrieval.index --corpus DIR --index {folder}"
            )
        try:
            conn = connect(folder)
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            raise IndexProblem(
                f"index database in {folder} is unreadable ({exc}); rebuild it with: "
                f"python -m retrieval.index --index {folder} --rebuild"
            ) from exc
        if "generation" not in meta:
            raise IndexProblem(f"index in {folder} was never finished; run python -m retrieval.index --index {folder}")
        if model and meta.get("model") != model:
            raise IndexProblem(
                f"index in {folder} was built with model {meta.get('model')!r}, not {model!r}; rebuild it with: "
                f"python -m retrieval.index --index {folder} --rebuild"
            )
        path = faiss_path(folder, int(meta["generation"]))
        try:
            vectors = faiss.read_index(str(path))
        except Exception as exc:  # faiss raises bare RuntimeErrors for missing and corrupt files
            raise IndexProblem(
                f"vector file {path} is missing or corrupt; rebuild with: python -m retrieval.index --index {folder} --rebuild"
            ) from exc
        if vectors.d != int(meta["dim"]):
            raise IndexProblem(f"vector file {path} has dimension {vectors.d}, expected {meta['dim']}; rebuild the index")
        return cls(folder, conn, meta, vectors)

    @property
    def model(self) -> str:
        return self.meta["model"]

    def __len__(self) -> int:
        return int(self.vectors.ntotal)

    def close(self) -> None:
        self.conn.close()

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        self._follow_rebuilds()
        k = min(k, len(self))
        if k <= 0:
            return []
        scores, ids = self.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def chunk_vectors(self, rowids: list[int]) -> np.ndarray:
        """Vectors of the given chunks, read from SQLite so they match its rows (zeros if gone)."""
        marks = ",".join("?" * len(rowids))
        rows = dict(self._rows(f"SELECT c.rowid, v.vec FROM chunks c JOIN vectors v ON v.key = c.vector_key WHERE c.rowid IN ({marks})", list(rowids)))
        dim = int(self.meta["dim"])
        return np.vstack([np.frombuffer(rows[i], dtype=np.float32) if i in rows else np.zeros(dim, np.float32) for i in rowids])

    def _follow_rebuilds(self) -> None:
        """A long-running bot picks up the FAISS file of a build that finished after it started."""
        ((generation,),) = self._rows("SELECT value FROM meta WHERE key = 'generation'")
        if generation != self.meta["generation"]:
            import faiss

            self.vectors = faiss.read_index(str(faiss_path(self.folder, int(generation))))
            self.meta = dict(self._rows("SELECT key, value FROM meta"))

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        expr = " OR ".join(f'"{t}"' for t in terms)
        rows = self._rows(
            "SELECT rowid, -bm25(chunks_fts, 0.5, 1.0) FROM chunks_fts WHERE chunks_fts MATCH ? "
            "ORDER BY bm25(chunks_fts, 0.5, 1.0) LIMIT ?",
            (expr, k),
        )
        return [(int(r), float(s)) for r, s in rows]

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25's idf of each term over chunks: rare words weigh more in coverage."""
        n = max(len(self), 1)
        df = self.document_frequency(terms)
        return {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each term (stemmed the FTS way)."""
        out = {}
        for term in terms:
            ((count,),) = self._rows("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',))
            out[term] = int(count)
        return out

    def chunks(self, rowids: list[int]) -> dict[int, StoredChunk]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        rows = self._rows(
            f"SELECT c.rowid, c.id, c.article_id, a.title, c.start, c.end, c.sentences, c.sentence_keys FROM chunks c "
            f"JOIN articles a ON a.id = c.article_id WHERE c.rowid IN ({marks})",
            list(rowids),
        )
        out = {}
        for rowid, cid, aid, title, start, end, sentences, keys in rows:
            text = self.article_text(aid)
            spans = tuple(tuple(s) for s in json.loads(sentences))
            out[rowid] = StoredChunk(rowid, cid, aid, title, start, end, text[start:end], spans, tuple(json.loads(keys)))
        return out

    def chunk_by_id(self, chunk_id: str) -> StoredChunk | None:
        rows = self._rows("SELECT rowid FROM chunks WHERE id = ?", (chunk_id,))
        return self.chunks([rows[0][0]]).get(rows[0][0]) if rows else None

    def article_text(self, article_id: str) -> str:
        text = self._texts.get(article_id)
        if text is None:
            rows = self._rows("SELECT text FROM articles WHERE id = ?", (article_id,))
            text = rows[0][0] if rows else ""
            self._texts[article_id] = text
        return text

    def stored_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        marks = ",".join("?" * len(keys))
        rows = self._rows(f"SELECT key, vec FROM vectors WHERE key IN ({marks})", list(keys))
        return {key: np.frombuffer(blob, dtype=np.float32) for key, blob in rows}

    def counts(self) -> dict[str, int]:
        ((articles,),) = self._rows("SELECT count(*) FROM articles")
        ((chunks,),) = self._rows("SELECT count(*) FROM chunks")
        return {"articles": articles, "chunks": chunks}
