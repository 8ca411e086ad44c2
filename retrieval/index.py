"""Builds or updates an index folder from a corpus folder; `python -m retrieval.index --help`.

Incremental by content: an unchanged article costs nothing, and every text is embedded at most
once (vectors are cached under a hash of model + text, committed batch by batch, so even a
killed build keeps what it embedded).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval import settings
from retrieval.chunking import Chunk, chunk_article
from retrieval.corpus import Article, Skipped, load_corpus
from retrieval.store import DB_NAME, SCHEMA, SCHEMA_VERSION, IndexProblem, connect, faiss_path, vector_key

EMBED_BATCH = 256
HNSW_MIN_VECTORS = 150_000  # exact search passes ~20 ms per query here (bench/vector_scale.py)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80  # faiss's default 40 gave recall@10 0.97 at 300 k; 80 gave 1.00
HNSW_EF_SEARCH = 128

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    articles: int = 0
    chunks: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.articles} articles, {self.chunks} chunks "
            f"({self.added} added, {self.changed} changed, {self.removed} removed); "
            f"embedded {self.embedded} texts now, reused {self.reused}; {self.seconds:.1f} s",
        ]
        for item in self.skipped:
            lines.append(f"skipped {item.path}: {item.reason}")
        return "\n".join(lines)


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


def _open_for_writing(folder: Path, rebuild: bool) -> sqlite3.Connection:
    folder.mkdir(parents=True, exist_ok=True)
    if rebuild:
        for path in [folder / DB_NAME, folder / f"{DB_NAME}-wal", folder / f"{DB_NAME}-shm", *folder.glob("vectors.*.faiss*")]:
            path.unlink(missing_ok=True)
    try:
        conn = connect(folder)
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:
        raise IndexProblem(f"index database in {folder} is corrupt ({exc}); start over with --rebuild") from exc
    return conn


def _embed_missing(conn, encoder, texts: dict[str, str], progress: bool) -> int:
    """Embeds the texts whose keys are not cached yet; returns how many it embedded."""
    keys = list(texts)
    cached = set()
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        cached.update(k for (k,) in conn.execute(f"SELECT key FROM vectors WHERE key IN ({','.join('?' * len(part))})", part))
    missing = sorted((k for k in keys if k not in cached), key=lambda k: len(texts[k]))
    if not missing:
        return 0
    from tqdm import tqdm

    log.info("embedding %d new texts with %s", len(missing), encoder.name)
    with tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress) as bar:
        for i in range(0, len(missing), EMBED_BATCH):
            batch = missing[i : i + EMBED_BATCH]
            vectors = encoder.encode([texts[k] for k in batch])
            with conn:  # each batch is committed: a killed build keeps it
                conn.executemany(
                    "INSERT OR IGNORE INTO vectors (key, vec) VALUES (?, ?)",
                    [(k, v.tobytes()) for k, v in zip(batch, vectors)],
                )
            bar.update(len(batch))
    return len(missing)


def _replace_articles(conn, changed: list[Article], removed: list[str], chunked: dict[str, list[Chunk]], model: str):
    for article_id in removed + [a.id for a in changed]:
        conn.execute(
            "DELETE FROM chunks_fts WHERE rowid IN (SELECT rowid FROM chunks WHERE article_id = ?)", (article_id,)
        )
        conn.execute("DELETE FROM chunks WHERE article_id = ?", (article_id,))
        conn.execute("DELETE FROM articles WHERE id = ?", (article_id,))
    for article in changed:
        conn.execute(
            "INSERT INTO articles (id, title, text, hash) VALUES (?, ?, ?, ?)",
            (article.id, article.title, article.text, article.hash),
        )
        for ord_, chunk in enumerate(chunked[article.id]):
            cursor = conn.execute(
                "INSERT INTO chunks (id, article_id, ord, start, end, sentences, vector_key, sentence_keys) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chunk.id,
                    article.id,
                    ord_,
                    chunk.start,
                    chunk.end,
                    json.dumps(chunk.sentences),
                    vector_key(model, chunk.text),
                    json.dumps([vector_key(model, t) for t in chunk.sentence_texts()]),
                ),
            )
            conn.execute(
                "INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)",
                (cursor.lastrowid, article.title, chunk.text),
            )


def _all_chunk_vectors(conn, dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = conn.execute(
        "SELECT c.rowid, v.vec FROM chunks c JOIN vectors v ON v.key = c.vector_key ORDER BY c.rowid"
    ).fetchall()
    ids = np.array([r for r, _ in rows], dtype=np.int64)
    vectors = np.frombuffer(b"".join(v for _, v in rows), dtype=np.float32).reshape(-1, dim)
    return vectors, ids


def build(
    corpus: str | Path,
    index_dir: str | Path,
    encoder=None,
    progress: bool = False,
    rebuild: bool = False,
) -> BuildReport:
    """Brings the index in `index_dir` up to date with `corpus`. The model loads only if needed."""
    started = time.perf_counter()
    folder = Path(index_dir)
    if encoder is None:
        from embeddings import Encoder

        encoder = Encoder()
    articles, skipped = load_corpus(corpus)
    conn = _open_for_writing(folder, rebuild)
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        if meta.get("model", encoder.name) != encoder.name:
            raise IndexProblem(
                f"index in {folder} was built with {meta['model']!r}, not {encoder.name!r}; rebuild with --rebuild"
            )
        stored = dict(conn.execute("SELECT id, hash FROM articles"))
        current = {a.id for a in articles}
        changed = [a for a in articles if stored.get(a.id) != a.hash]
        removed = [aid for aid in stored if aid not in current]
        report = BuildReport(
            articles=len(articles),
            added=sum(a.id not in stored for a in articles),
            changed=sum(a.id in stored for a in changed),
            removed=len(removed),
            skipped=skipped,
        )
        generation = int(meta.get("generation", 0))
        up_to_date = generation and faiss_path(folder, generation).exists()
        if changed or removed or not up_to_date:
            chunked = {a.id: chunk_article(a) for a in changed}
            texts = {}
            for article in changed:
                for chunk in chunked[article.id]:
                    texts[vector_key(encoder.name, chunk.text)] = chunk.text
                    for sentence in chunk.sentence_texts():
                        texts[vector_key(encoder.name, sentence)] = sentence
            report.embedded = _embed_missing(conn, encoder, texts, progress)
            report.reused = len(texts) - report.embedded
            _commit_generation(conn, folder, changed, removed, chunked, encoder, generation + 1)
        report.chunks = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
    finally:
        conn.close()
    report.seconds = time.perf_counter() - started
    return report


def _commit_generation(conn, folder: Path, changed, removed, chunked, encoder, generation: int) -> None:
    """One transaction swaps the articles, writes the matching FAISS file, then points meta at it."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        _replace_articles(conn, changed, removed, chunked, encoder.name)
        vectors, ids = _all_chunk_vectors(conn, encoder.dim)
        index, kind = _make_faiss(vectors, ids)
        _write_atomically(index, faiss_path(folder, generation))
        conn.execute(
            "DELETE FROM vectors WHERE key NOT IN (SELECT vector_key FROM chunks "
            "UNION SELECT value FROM chunks, json_each(chunks.sentence_keys))"
        )
        conn.executemany(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
            [
                ("model", encoder.name),
                ("dim", str(encoder.dim)),
                ("faiss_type", kind),
                ("generation", str(generation)),
                ("schema_version", str(SCHEMA_VERSION)),
            ],
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        faiss_path(folder, generation).unlink(missing_ok=True)
        raise
    for old in folder.glob("vectors.*.faiss"):
        if old != faiss_path(folder, generation):
            old.unlink(missing_ok=True)
    log.info("index generation %d: %d vectors (%s)", generation, index.ntotal, kind)


def update_index(corpus: str | Path, index_dir: str | Path, progress: bool = False, rebuild: bool = False) -> BuildReport:
    """What the CLI and the bots run: build, then make sure the torch-free encoder is there.

    Once exported, the ONNX encoder also embeds later updates: 2.2x the texts/s of
    sentence-transformers here, same vectors (bench/cold_start.py), and no torch import.
    """
    from embeddings import OnnxEncoder, ensure_onnx, onnx_path

    encoder = None
    if onnx_path(index_dir).exists():
        try:
            encoder = OnnxEncoder(onnx_path(index_dir), threads=2)
        except Exception as exc:  # a missing onnxruntime or a damaged file: torch still works
            log.warning("indexing with sentence-transformers: the ONNX encoder did not load (%s)", exc)
    report = build(corpus, index_dir, encoder=encoder, progress=progress, rebuild=rebuild)
    try:
        ensure_onnx(index_dir)  # exports once per index or model upgrade; only then imports torch
    except Exception as exc:  # answering still works, on sentence-transformers
        log.warning("could not export the ONNX query encoder (%s); answers will use sentence-transformers", exc)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.index",
        description="Build or update the search index for a folder of .txt/.md articles. "
        "Unchanged articles are skipped; only new or edited text is embedded.",
    )
    parser.add_argument("--corpus", default=settings.corpus_dir(), help="folder of articles (default: %(default)s, env QA_CORPUS)")
    parser.add_argument("--index", default=settings.index_dir(), help="index folder (default: %(default)s, env QA_INDEX)")
    parser.add_argument("--rebuild", action="store_true", help="discard the existing index and build from scratch")
    parser.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)
    try:
        report = update_index(args.corpus, args.index, progress=not args.quiet and sys.stderr.isatty(), rebuild=args.rebuild)
    except (IndexProblem, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
