"""The default backend, files on one disk: SQLite (articles, chunks, FTS5, vector cache) plus one FAISS file.

SQLite is the source of truth. The FAISS file is derived from it and named by a generation
number that SQLite records, so a reader always pairs the database with the matching file and
a build killed half-way leaves the previous pair intact.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
from pathlib import Path

import numpy as np

from retrieval.backends import base
from retrieval.backends.base import ChunkRow, StoredChunk, article_row, source_of
from retrieval.corpus import Article, Source
from retrieval.errors import IndexProblem
from retrieval.text import query_terms

DB_NAME = "index.sqlite"
LOCK_NAME = "index.lock"
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS articles (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, hash TEXT NOT NULL, date TEXT, url TEXT, pages TEXT
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

HNSW_MIN_VECTORS = 150_000  # exact search passes ~20 ms per query here (bench/vector_scale.py)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80  # faiss's default 40 gave recall@10 0.97 at 300 k; 80 gave 1.00
HNSW_EF_SEARCH = 128

log = logging.getLogger(__name__)


def _take_build_lock(folder: Path):
    """One indexer per folder: a second one waits (saying so) instead of embedding the same texts and
    writing the same generation. The lock goes with the process, so a killed indexer never leaves it held."""
    import fcntl

    try:
        handle = open(folder / LOCK_NAME, "a+b")  # noqa: SIM115 (held until the build ends)
    except OSError as exc:
        raise IndexProblem(
            f"index folder {folder} is read-only or not ours ({exc.strerror}), so it cannot be updated; answer from it as it is with --no-update"
        ) from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.warning("another indexer is updating %s; waiting for it to finish", folder)
        fcntl.flock(handle, fcntl.LOCK_EX)
    return handle


def faiss_path(folder: Path, generation: int) -> Path:
    return folder / f"vectors.{generation}.faiss"


def connect(folder: Path) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(folder / DB_NAME, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.OperationalError as exc:
        if "readonly" in str(exc) or not os.access(folder, os.W_OK):
            raise IndexProblem(
                f"index folder {folder} is read-only, so it cannot be updated; answer from it as it is with --no-update, or make it writable"
            ) from exc
        raise
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def connect_readonly(folder: Path) -> sqlite3.Connection:
    """Readers never write: a read-only volume or another user's folder still answers. Where SQLite
    cannot even make its shared-memory file, nothing can be writing, so the file is read as immutable."""
    uri = (folder / DB_NAME).resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, check_same_thread=False, isolation_level=None)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn.close()
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, check_same_thread=False, isolation_level=None)
    return conn


def _file_identity(folder: Path) -> tuple[int, int] | None:
    """Tells a database file from the one a rebuild put in its place."""
    try:
        st = os.stat(folder / DB_NAME)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def index_command(folder: Path, meta: dict[str, str] | None = None, rebuild: bool = False) -> str:
    """The command that updates (or rebuilds) this index from the corpus it was built from; never a
    default corpus, which would replace the real articles."""
    corpus = (meta or {}).get("corpus") or "YOUR_ARTICLES"
    return f"python -m retrieval.index --corpus {corpus} --index {folder}" + (" --rebuild" if rebuild else "")


def load_vectors(folder: Path, meta: dict[str, str], conn: sqlite3.Connection):
    """The generation's FAISS file; when it is missing or damaged, the same index made again from the
    vectors SQLite holds (nothing is re-embedded, no corpus is needed; the next update rewrites the file)."""
    import faiss

    path = faiss_path(folder, int(meta["generation"]))
    try:
        vectors = faiss.read_index(str(path))
        if vectors.d == int(meta["dim"]) and vectors.ntotal == conn.execute("SELECT count(*) FROM chunks").fetchone()[0]:
            return vectors
        problem = f"holds {vectors.ntotal} vectors of dimension {vectors.d}"
    except Exception as exc:  # faiss raises bare RuntimeErrors for missing and corrupt files
        problem = f"is missing or corrupt ({str(exc).splitlines()[0][:120]})"
    log.warning(
        "vector file %s %s; rebuilding it in memory from the index database (run %s to repair the file)",
        path,
        problem,
        index_command(folder, meta),
    )
    vectors, _ = _make_faiss(*_chunk_vectors(conn, int(meta["dim"])))
    return vectors


def _chunk_vectors(conn: sqlite3.Connection, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = conn.execute("SELECT c.rowid, v.vec FROM chunks c JOIN vectors v ON v.key = c.vector_key ORDER BY c.rowid").fetchall()
    ids = np.array([r for r, _ in rows], dtype=np.int64)
    vectors = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(-1, dim)
    return vectors, ids


class Index(base.Index):
    """Read side of an index folder. Thread-safe for concurrent readers."""

    def __init__(self, folder: Path, conn: sqlite3.Connection, meta: dict[str, str], vectors, identity: tuple[int, int] | None):
        self.folder = folder
        self.conn = conn
        self.meta = meta
        self.vectors = vectors  # faiss index with chunk rowids as ids
        self._texts: dict[str, str] = {}
        self._lock = threading.Lock()  # one connection, many answering threads
        self._identity = identity  # of the database file opened: a rebuild may put another in its place

    def _rows(self, sql: str, params=()) -> list[tuple]:
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    @classmethod
    def open(cls, folder: str | Path, model: str | None = None) -> Index:
        import faiss

        faiss.omp_set_num_threads(1)  # one query needs one thread; a pool costs 20x on 2 busy cores
        folder = Path(folder)
        if not (folder / DB_NAME).exists():
            raise IndexProblem(f"no index in {folder}; build one with: python -m retrieval.index --corpus DIR --index {folder}")
        identity = _file_identity(folder)
        try:
            conn = connect_readonly(folder)
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.DatabaseError as exc:
            raise IndexProblem(
                f"index database in {folder} is unreadable ({exc}); rebuild it with: {index_command(folder, rebuild=True)}"
            ) from exc
        if "generation" not in meta:
            raise IndexProblem(f"index in {folder} was never finished; run {index_command(folder)}")
        if model and meta.get("model") != model:
            raise IndexProblem(
                f"index in {folder} was built with model {meta.get('model')!r}, not {model!r}; rebuild it with: {index_command(folder, meta, rebuild=True)}"
            )
        return cls(folder, conn, meta, load_vectors(folder, meta, conn), identity)

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
        rows = dict(
            self._rows(
                f"SELECT c.rowid, v.vec FROM chunks c JOIN vectors v ON v.key = c.vector_key WHERE c.rowid IN ({marks})", list(rowids)
            )
        )
        dim = int(self.meta["dim"])
        return np.vstack([np.frombuffer(rows[i], dtype=np.float32) if i in rows else np.zeros(dim, np.float32) for i in rowids])

    def _follow_rebuilds(self) -> None:
        """A long-running bot picks up a build that finished after it started: a new generation, or a
        new database file where a corrupt one was replaced. Until the new one is readable, the old serves."""
        identity = _file_identity(self.folder)
        with self._lock:
            try:
                if identity is not None and identity != self._identity:
                    conn = connect_readonly(self.folder)
                    meta = dict(conn.execute("SELECT key, value FROM meta"))
                    self.vectors = load_vectors(self.folder, meta, conn)
                    self.conn.close()
                    self.conn, self.meta, self._identity = conn, meta, identity
                    self._texts.clear()
                    log.info("index %s was rebuilt; now answering from the new one", self.folder)
                    return
                ((generation,),) = self.conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchall()
                if generation != self.meta["generation"]:
                    meta = dict(self.conn.execute("SELECT key, value FROM meta"))
                    self.vectors = load_vectors(self.folder, meta, self.conn)
                    self.meta = meta
                    self._texts.clear()  # edited articles have new text at the new offsets
            except (sqlite3.Error, ValueError) as exc:  # a rebuild half-way: keep answering from what we have
                log.warning("index %s is changing (%s); answering from the previous version", self.folder, exc)

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

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
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

    def article_source(self, article_id: str) -> Source:
        try:
            rows = self._rows("SELECT date, url, pages FROM articles WHERE id = ?", (article_id,))
        except sqlite3.OperationalError:  # an index from before dates and URLs, opened read-only
            return Source()
        return source_of(*rows[0]) if rows else Source()

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

    def article_titles(self) -> list[tuple[str, str]]:
        return self._rows("SELECT id, title FROM articles ORDER BY id")

    def passages_of(self, article_id: str) -> int:
        return self._rows("SELECT count(*) FROM chunks WHERE article_id = ?", (article_id,))[0][0]


def _make_faiss(vectors: np.ndarray, ids: np.ndarray):
    import faiss

    dim = vectors.shape[1]
    if len(vectors) >= HNSW_MIN_VECTORS:
        inner = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        inner.hnsw.efSearch = HNSW_EF_SEARCH
        kind = f"HNSW{HNSW_M},IP"
    else:
        inner = faiss.IndexFlatIP(dim)
        kind = "Flat,IP"
    index = faiss.IndexIDMap2(inner)
    if len(vectors):
        index.add_with_ids(vectors, ids)
    return index, kind


def _write_atomically(index, path: Path) -> None:
    import faiss

    tmp = path.with_name(path.name + ".tmp")
    faiss.write_index(index, str(tmp))
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Writer(base.Writer):
    """Vectors are committed batch by batch; the swap is one SQLite transaction plus an atomic file rename."""

    def __init__(self, folder: str | Path, rebuild: bool = False):
        self.folder = folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = _take_build_lock(folder)
        try:
            self.conn = self._open(folder, rebuild)
        except BaseException:
            self._lock.close()
            raise
        meta = dict(self.conn.execute("SELECT key, value FROM meta"))
        self.model = meta.get("model")
        self.generation = int(meta.get("generation", 0))
        self.faiss_bytes = meta.get("faiss_bytes")  # the size the vector file was written with

    @staticmethod
    def _open(folder: Path, rebuild: bool) -> sqlite3.Connection:
        """The database, schema ensured. Only --rebuild replaces a corrupt one (a running bot follows:
        it watches the file's identity); a readable one is rebuilt in place by one swap."""
        try:
            conn = connect(folder)
            conn.executescript(SCHEMA)
            conn.execute("SELECT count(*) FROM meta").fetchone()
            _add_source_columns(conn)
            return conn
        except sqlite3.DatabaseError as exc:
            if not rebuild:
                raise IndexProblem(
                    f"index database in {folder} is corrupt ({exc}); start over with: {index_command(folder, rebuild=True)}"
                ) from exc
            log.warning("index database in %s is corrupt (%s); starting a new one", folder, exc)
        for path in [folder / DB_NAME, folder / f"{DB_NAME}-wal", folder / f"{DB_NAME}-shm", *folder.glob("vectors.*.faiss*")]:
            path.unlink(missing_ok=True)
        conn = connect(folder)
        conn.executescript(SCHEMA)
        return conn

    def stored_hashes(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, hash FROM articles"))

    def is_complete(self) -> bool:
        """False for a new index, one whose first build never finished, or a vector file that is missing
        or not the size it was written with (checked without reading it: it may be gigabytes)."""
        try:
            size = faiss_path(self.folder, self.generation).stat().st_size
        except OSError:
            return False
        return bool(self.generation) and self.faiss_bytes in (None, str(size))

    def missing_keys(self, keys: list[str]) -> list[str]:
        cached = set()
        for i in range(0, len(keys), 500):
            part = keys[i : i + 500]
            cached.update(k for (k,) in self.conn.execute(f"SELECT key FROM vectors WHERE key IN ({','.join('?' * len(part))})", part))
        return [k for k in keys if k not in cached]

    def save_vectors(self, keys: list[str], vectors: np.ndarray) -> None:
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)",
                [(k, v.astype(np.float32).tobytes()) for k, v in zip(keys, vectors)],
            )

    def commit(self, articles: list[Article], removed: list[str], rows: list[ChunkRow], model: str, dim: int, corpus: str = "") -> None:
        """One transaction swaps the articles, writes the matching FAISS file, then points meta at it."""
        conn, generation = self.conn, self.generation + 1
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._replace(articles, removed, rows)
            vectors, ids = _chunk_vectors(conn, dim)
            index, kind = _make_faiss(vectors, ids)
            _write_atomically(index, faiss_path(self.folder, generation))
            faiss_bytes = str(faiss_path(self.folder, generation).stat().st_size)
            conn.execute(
                "DELETE FROM vectors WHERE key NOT IN (SELECT vector_key FROM chunks "
                "UNION SELECT value FROM chunks, json_each(chunks.sentence_keys))"
            )
            conn.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [
                    ("model", model),
                    ("dim", str(dim)),
                    ("faiss_type", kind),
                    ("generation", str(generation)),
                    ("schema_version", str(SCHEMA_VERSION)),
                    ("corpus", corpus),
                    ("faiss_bytes", faiss_bytes),
                ],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            faiss_path(self.folder, generation).unlink(missing_ok=True)
            raise
        self.generation, self.faiss_bytes = generation, faiss_bytes
        for old in self.folder.glob("vectors.*.faiss"):
            if old != faiss_path(self.folder, generation):
                old.unlink(missing_ok=True)
        log.info("index generation %d: %d vectors (%s)", generation, index.ntotal, kind)

    def _replace(self, articles: list[Article], removed: list[str], rows: list[ChunkRow]) -> None:
        conn = self.conn
        for article_id in removed + [a.id for a in articles]:
            conn.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks WHERE article_id = ?)", (article_id,))
            conn.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
            conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
        conn.executemany(
            "INSERT INTO articles (id, title, text, hash, date, url, pages) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [article_row(a) for a in articles],
        )
        for row in rows:
            cursor = conn.execute(
                "INSERT INTO chunks (id, article_id, ord, start, end, sentences, vector_key, sentence_keys) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.article_id,
                    row.ord,
                    row.start,
                    row.end,
                    json.dumps(row.sentences),
                    row.vector_key,
                    json.dumps(row.sentence_keys),
                ),
            )
            conn.execute("INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)", (cursor.lastrowid, row.title, row.text))

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def close(self) -> None:
        self.conn.close()
        self._lock.close()


def _add_source_columns(conn: sqlite3.Connection) -> None:
    """Indexes from before dates and URLs gain their columns (empty until the article is re-indexed)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(articles)")}
    for column in ("date", "url", "pages"):
        if column not in have:
            conn.execute(f"ALTER TABLE articles ADD COLUMN {column} TEXT")
