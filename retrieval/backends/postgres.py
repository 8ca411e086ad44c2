"""The backend for teams that outgrow one machine: PostgreSQL with pgvector (`pip install -e ".[postgres]"`).

One database holds everything: articles, chunks with a generated tsvector (GIN) for BM25, halfvec
embeddings under an HNSW index, and the vector cache. Each update is one transaction, so a
running bot never sees half an article and a killed indexer loses nothing. The schema is made
and upgraded by the numbered files in `migrations/`, applied in order under an advisory lock.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np

from retrieval.backends import base
from retrieval.backends.base import ChunkRow, StoredChunk, article_row, redact, source_of
from retrieval.corpus import Article, Source
from retrieval.errors import IndexProblem
from retrieval.secrets import scrub
from retrieval.text import query_terms

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 7_316_001  # pg_advisory_xact_lock keys: one for schema changes, one for swaps
SWAP_LOCK = 7_316_002
BUILD_LOCK = 7_316_003  # one indexer at a time, held for the whole build
POOL_SIZE = 4  # connections per reading process: the Telegram bot answers chats on threads
CONNECT_TIMEOUT_S = 5  # a server that is down fails a question in seconds, not libpq's default of forever
POOL_WAIT_S = 8  # psycopg-pool's default is 30 s of waiting per question while the server is down
DEFAULT_EF_SEARCH = 100  # HNSW candidates per query; bench/backends.py measures recall against it
BM25_K1, BM25_B = 1.2, 0.75  # FTS5's constants, so both backends feed answering the same scale
TITLE_WEIGHT = 0.5
TABLES = ("chunk_embeddings", "chunks", "articles", "vector_cache", "term_stats", "meta", "schema_migrations")

log = logging.getLogger(__name__)

# BM25 as FTS5 computes it (per-column weights, idf floored at 1e-6), over the chunks the GIN
# indexes match; each matched tsvector is unnested once. Statistics come from `meta`, written in
# the same transaction as the chunks. MATERIALIZED keeps the planner from redoing a CTE per row.
BM25_SQL = f"""
WITH terms AS MATERIALIZED (
    SELECT DISTINCT lexeme, quote_literal(lexeme)::tsquery AS q FROM unnest(to_tsvector('english', %(text)s))
), stats AS MATERIALIZED (
    SELECT max(value::float8) FILTER (WHERE key = 'chunks') AS total,
           greatest(max(value::float8) FILTER (WHERE key = 'avg_title_len'), 1) AS avg_title,
           greatest(max(value::float8) FILTER (WHERE key = 'avg_body_len'), 1) AS avg_body
    FROM meta
), df AS MATERIALIZED (
    SELECT terms.lexeme, coalesce(term_stats.df, 0) AS n FROM terms LEFT JOIN term_stats USING (lexeme)
), idf AS MATERIALIZED (
    SELECT df.lexeme, greatest(ln((s.total - df.n + 0.5) / (df.n + 0.5)), 1e-6) AS idf FROM df, stats s
), matched AS MATERIALIZED (
    SELECT c.rowid, c.title_tsv, c.body_tsv, c.title_len, c.body_len FROM chunks c
    WHERE c.title_tsv @@ (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery FROM terms)
       OR c.body_tsv @@ (SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery FROM terms)
), tf AS (
    SELECT m.rowid, u.lexeme, {TITLE_WEIGHT} AS weight, array_length(u.positions, 1) AS tf, m.title_len / s.avg_title AS rel_len
    FROM matched m, stats s, unnest(m.title_tsv) u WHERE u.lexeme IN (SELECT lexeme FROM terms)
    UNION ALL
    SELECT m.rowid, u.lexeme, 1.0, array_length(u.positions, 1), m.body_len / s.avg_body
    FROM matched m, stats s, unnest(m.body_tsv) u WHERE u.lexeme IN (SELECT lexeme FROM terms)
)
SELECT tf.rowid, sum(idf.idf * tf.weight * tf.tf * {BM25_K1 + 1} / (tf.tf + {BM25_K1} * ({1 - BM25_B} + {BM25_B} * tf.rel_len))) AS score
FROM tf JOIN idf USING (lexeme)
GROUP BY tf.rowid ORDER BY score DESC, tf.rowid LIMIT %(k)s
"""


# Adds or subtracts the lexemes of some articles' chunks: each chunk counts once per lexeme.
TERM_STATS_SQL = """
INSERT INTO term_stats AS t (lexeme, df)
SELECT lexeme, {sign}count(*) FROM chunks, unnest(tsvector_to_array(title_tsv || body_tsv)) AS lexeme
WHERE article_id = ANY(%s) GROUP BY lexeme
ON CONFLICT (lexeme) DO UPDATE SET df = t.df + excluded.df
"""


def _word_count(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _register_types(conn) -> None:
    from pgvector.psycopg import register_vector

    register_vector(conn)


def connect(url: str):
    """An autocommit connection with pgvector's types registered; errors say what to check."""
    try:
        import pgvector  # noqa: F401
        import psycopg
    except ImportError as exc:
        raise IndexProblem(f'the postgres backend needs its extra: pip install -e ".[postgres]" ({exc})') from exc
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        reason = scrub(" ".join(str(exc).split()))
        raise IndexProblem(f"cannot connect to {redact(url)}: {reason}; check DATABASE_URL and that the server is up") from exc
    try:
        _register_types(conn)
    except psycopg.ProgrammingError:
        pass  # no pgvector in this database yet: the first migration creates it, then we register
    return conn


def drop_all(conn) -> None:
    """Empties a database of everything this backend made (benchmarks start from nothing)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")


def _applied(conn) -> set[int]:
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    return {v for (v,) in conn.execute("SELECT version FROM schema_migrations")} if exists else set()


def migrations() -> list[tuple[int, Path]]:
    return sorted((int(p.name.split("_", 1)[0]), p) for p in MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def migrate(conn) -> list[int]:
    """Applies the migrations this database lacks, all in one transaction under a lock; returns their numbers."""
    done = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = _applied(conn)
        for version, path in migrations():
            if version not in applied:
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, path.name))
                done.append(version)
                log.info("applied migration %s", path.name)
    _register_types(conn)
    return done


def _check_readable(conn, url: str, model: str | None) -> dict[str, str]:
    """The index's meta, or an IndexProblem that says what to run."""
    hint = "build it with: DATABASE_URL=... python -m retrieval.index --backend postgres --corpus DIR"
    applied = _applied(conn)
    if not applied:
        raise IndexProblem(f"no index in {redact(url)}; {hint}")
    pending = [v for v, _ in migrations() if v not in applied]
    if pending:
        raise IndexProblem(
            f"the database schema in {redact(url)} lacks migrations {pending}; apply them with: python -m retrieval.index --backend postgres"
        )
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if "model" not in meta:
        raise IndexProblem(f"the index in {redact(url)} was never finished; {hint}")
    if model and meta["model"] != model:
        raise IndexProblem(
            f"the index in {redact(url)} was built with model {meta['model']!r}, not {model!r}; rebuild it with: "
            "python -m retrieval.index --backend postgres --rebuild"
        )
    return meta


def _pool(url: str):
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        url,
        min_size=1,
        max_size=POOL_SIZE,
        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
        configure=_register_types,
        check=ConnectionPool.check_connection,
        name="qa-index",
        open=True,
        timeout=POOL_WAIT_S,  # a dropped connection is replaced
    )
    pool.url = url
    return pool


class Index(base.Index):
    """Read side. A small pool of connections, so a bot's concurrent chats query in parallel."""

    def __init__(self, pool, meta: dict[str, str], ef_search: int = DEFAULT_EF_SEARCH):
        self.pool = pool
        self.meta = meta
        self.ef_search = ef_search

    @classmethod
    def open(cls, url: str, model: str | None = None, ef_search: int = DEFAULT_EF_SEARCH) -> Index:
        conn = connect(url)
        try:
            meta = _check_readable(conn, url, model)
        finally:
            conn.close()
        return cls(_pool(url), meta, ef_search)

    def _rows(self, sql: str, params=None, ef_search: int = 0) -> list[tuple]:
        """Raises IndexProblem("... unavailable") within seconds while the server is down; the pool
        reconnects by itself once it is back."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            return self._query(sql, params, ef_search)
        except (PoolTimeout, psycopg.OperationalError) as exc:
            # A fresh pool tries the server at once next time, instead of after the old one's backoff.
            old, self.pool = self.pool, _pool(self.pool.url)
            old.close(timeout=0)
            raise IndexProblem(
                f"{redact(self.pool.url)} is unavailable ({scrub(' '.join(str(exc).split()))[:200]}); answers resume when it is back"
            ) from exc

    def _query(self, sql: str, params, ef_search: int) -> list[tuple]:
        with self.pool.connection() as conn:
            if not ef_search:
                return conn.execute(sql, params, binary=True).fetchall()  # vectors parse 10x faster than as text
            with conn.transaction():
                conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(ef_search),))
                return conn.execute(sql, params, binary=True).fetchall()

    @property
    def model(self) -> str:
        return self.meta["model"]

    def __len__(self) -> int:
        return int(self._rows("SELECT value FROM meta WHERE key = 'chunks'")[0][0])

    def close(self) -> None:
        self.pool.close()

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """HNSW finds the candidates on halfvec; their exact float32 cosines order them."""
        from pgvector import HalfVector

        rows = self._rows(
            "SELECT chunk_rowid FROM chunk_embeddings ORDER BY embedding <#> %s LIMIT %s",
            (HalfVector(query_vector.astype(np.float32)), k),
            ef_search=max(self.ef_search, k),  # pgvector returns at most ef_search rows
        )
        ids = [r for (r,) in rows]
        if not ids:
            return []
        scores = self.chunk_vectors(ids) @ query_vector
        return sorted(zip(ids, scores.tolist()), key=lambda pair: -pair[1])

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        return [(int(r), float(s)) for r, s in self._rows(BM25_SQL, {"text": " ".join(terms), "k": k})]

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
        """Postgres's English stop words (not in ours) count as in every chunk: they weigh nothing."""
        rows = self._rows(
            "SELECT t, coalesce((SELECT min(coalesce(s.df, 0)) FROM unnest(tsvector_to_array(to_tsvector('english', t))) AS l "
            "LEFT JOIN term_stats s ON s.lexeme = l), (SELECT value::bigint FROM meta WHERE key = 'chunks')) "
            "FROM unnest(%s::text[]) AS t",
            (list(terms),),
        )
        return {t: int(df) for t, df in rows}

    def chunks(self, rowids: list[int]) -> dict[int, StoredChunk]:
        if not rowids:
            return {}
        rows = self._rows(
            "SELECT rowid, id, article_id, title, start_offset, end_offset, body, sentences, sentence_keys "
            "FROM chunks WHERE rowid = ANY(%s)",
            (list(rowids),),
        )
        return {
            rowid: StoredChunk(rowid, cid, aid, title, start, end, body, tuple(tuple(s) for s in spans), tuple(keys))
            for rowid, cid, aid, title, start, end, body, spans, keys in rows
        }

    def chunk_by_id(self, chunk_id: str) -> StoredChunk | None:
        rows = self._rows("SELECT rowid FROM chunks WHERE id = %s", (chunk_id,))
        return self.chunks([rows[0][0]]).get(rows[0][0]) if rows else None

    def article_text(self, article_id: str) -> str:
        rows = self._rows("SELECT text FROM articles WHERE id = %s", (article_id,))
        return rows[0][0] if rows else ""

    def article_source(self, article_id: str) -> Source:
        rows = self._rows("SELECT date, url, pages FROM articles WHERE id = %s", (article_id,))
        return source_of(*rows[0]) if rows else Source()

    def stored_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        if not keys:
            return {}
        return {key: vec.to_numpy() for key, vec in self._rows("SELECT key, vec FROM vector_cache WHERE key = ANY(%s)", (list(keys),))}

    def chunk_vectors(self, rowids: list[int]) -> np.ndarray:
        rows = dict(
            self._rows(
                "SELECT c.rowid, v.vec FROM chunks c JOIN vector_cache v ON v.key = c.vector_key WHERE c.rowid = ANY(%s)",
                (list(rowids),),
            )
        )
        dim = int(self.meta["dim"])
        return np.vstack([rows[i].to_numpy() if i in rows else np.zeros(dim, np.float32) for i in rowids])

    def counts(self) -> dict[str, int]:
        ((articles, chunks),) = self._rows("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM chunks)")
        return {"articles": articles, "chunks": chunks}

    def article_titles(self) -> list[tuple[str, str]]:
        return [tuple(row) for row in self._rows("SELECT id, title FROM articles ORDER BY id")]

    def passages_of(self, article_id: str) -> int:
        return self._rows("SELECT count(*) FROM chunks WHERE article_id = %s", (article_id,))[0][0]


class Writer(base.Writer):
    """Vectors are committed batch by batch; the swap is one transaction under an advisory lock."""

    def __init__(self, url: str, rebuild: bool = False):
        """`rebuild` changes nothing here: `build` rewrites every article in one swap, so readers
        see the old index or the new one, never an empty database."""
        self.conn = connect(url)
        if not self.conn.execute("SELECT pg_try_advisory_lock(%s)", (BUILD_LOCK,)).fetchone()[0]:
            log.warning("another indexer is updating %s; waiting for it to finish", redact(url))
            self.conn.execute("SELECT pg_advisory_lock(%s)", (BUILD_LOCK,))  # released with the session
        migrate(self.conn)
        self.model = dict(self.conn.execute("SELECT key, value FROM meta").fetchall()).get("model")

    def stored_hashes(self) -> dict[str, str]:
        return dict(self.conn.execute("SELECT id, hash FROM articles").fetchall())

    def is_complete(self) -> bool:
        return self.model is not None

    def missing_keys(self, keys: list[str]) -> list[str]:
        cached = {k for (k,) in self.conn.execute("SELECT key FROM vector_cache WHERE key = ANY(%s)", (keys,))}
        return [k for k in keys if k not in cached]

    def save_vectors(self, keys: list[str], vectors: np.ndarray) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO vector_cache (key, vec) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                [(k, np.asarray(v, dtype=np.float32)) for k, v in zip(keys, vectors)],
            )

    def commit(self, articles: list[Article], removed: list[str], rows: list[ChunkRow], model: str, dim: int, corpus: str = "") -> None:
        conn = self.conn
        ids = removed + [a.id for a in articles]
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (SWAP_LOCK,))
            old_keys = [
                k
                for (k,) in cur.execute(
                    "SELECT vector_key FROM chunks WHERE article_id = ANY(%s) "
                    "UNION SELECT unnest(sentence_keys) FROM chunks WHERE article_id = ANY(%s)",
                    (ids, ids),
                )
            ]
            cur.execute(TERM_STATS_SQL.format(sign="-"), (ids,))
            cur.execute("DELETE FROM term_stats WHERE df <= 0")
            cur.execute("DELETE FROM articles WHERE id = ANY(%s)", (ids,))  # chunks and embeddings cascade
            cur.executemany(
                "INSERT INTO articles (id, title, text, hash, date, url, pages) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [article_row(a) for a in articles],
            )
            _insert_chunks(cur, rows)
            cur.execute(
                "INSERT INTO chunk_embeddings (chunk_rowid, embedding) SELECT c.rowid, v.vec::halfvec FROM chunks c "
                "JOIN vector_cache v ON v.key = c.vector_key WHERE c.article_id = ANY(%s)",
                ([a.id for a in articles],),
            )
            if cur.rowcount != len(rows):
                raise IndexProblem("some chunk vectors vanished from the cache while indexing (another indexer?); run the indexer again")
            cur.execute(TERM_STATS_SQL.format(sign="+"), ([a.id for a in articles],))
            cur.execute(
                "DELETE FROM vector_cache v WHERE v.key = ANY(%s) AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.vector_key = v.key) "
                "AND NOT EXISTS (SELECT 1 FROM chunks c WHERE c.sentence_keys @> ARRAY[v.key])",
                (old_keys,),
            )
            chunks = _write_meta(cur, model, dim, corpus)
        self.model = model
        log.info("postgres index: %d chunks after replacing %d and removing %d articles", chunks, len(articles), len(removed))

    def chunk_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def close(self) -> None:
        self.conn.close()


def _insert_chunks(cur, rows: list[ChunkRow]) -> None:
    cur.executemany(
        "INSERT INTO chunks (id, article_id, ord, start_offset, end_offset, sentences, vector_key, sentence_keys, title, body, title_len, body_len) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [
            (
                r.id,
                r.article_id,
                r.ord,
                r.start,
                r.end,
                json.dumps(r.sentences),
                r.vector_key,
                r.sentence_keys,
                r.title,
                r.text,
                _word_count(r.title),
                _word_count(r.text),
            )
            for r in rows
        ],
    )


def _write_meta(cur, model: str, dim: int, corpus: str) -> int:
    """Records what built the index and the averages BM25 needs; returns the chunk count."""
    chunks, avg_title, avg_body = cur.execute(
        "SELECT count(*), coalesce(avg(title_len), 0), coalesce(avg(body_len), 0) FROM chunks"
    ).fetchone()
    cur.executemany(
        "INSERT INTO meta (key, value) VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        [
            ("model", model),
            ("dim", str(dim)),
            ("chunks", str(chunks)),
            ("avg_title_len", str(avg_title)),
            ("avg_body_len", str(avg_body)),
            ("corpus", corpus),
        ],
    )
    return chunks
