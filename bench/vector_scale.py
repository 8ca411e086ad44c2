"""The vector layer alone: exact IndexFlatIP vs IndexHNSWFlat (inner product) at growing sizes.

Data: 384-d clustered synthetic vectors, 100 per centre on average (gaussian centres on the unit
sphere, plus N(0, 0.05^2) per dimension, normalised); at 13.5 k vectors that gives nearest-
neighbour cosines close to real MiniLM embeddings, which the first row measures for reference
(the 13,523 chunk and sentence vectors of the SQuAD v1.1 index in .eval). Queries: random data
points plus N(0, 0.02^2) noise, normalised. Recall@10 is against the exact index on the same
queries. Latency: one query per `search` call, p50/p99 with faiss limited to 1 thread, and p50
with its default threads. Builds use the default threads. Size: `faiss.serialize_index` length;
RSS: the process's resident memory before and after building the index.

    python bench/vector_scale.py [--sizes 10000,100000,1000000] [--ef-construction 40,64]
"""

from __future__ import annotations

import argparse
import ctypes
import sqlite3
import sys
import time
from datetime import date
from pathlib import Path

import faiss
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SQUAD_DB = ROOT / ".eval/squad-v1.1/index/index.sqlite"
DIM = 384
PER_CENTRE = 100
NOISE = 0.05
QUERY_NOISE = 0.02
K = 10
DEFAULT_THREADS = faiss.omp_get_max_threads()
LIBC = ctypes.CDLL("libc.so.6")


def normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def clustered(n: int, rng: np.random.Generator) -> np.ndarray:
    centres = normalise(rng.standard_normal((max(1, n // PER_CENTRE), DIM), dtype=np.float32))
    data = np.empty((n, DIM), dtype=np.float32)
    for start in range(0, n, 100_000):  # blocks keep the temporaries small at 1 M
        end = min(n, start + 100_000)
        block = centres[rng.integers(0, len(centres), end - start)]
        block += NOISE * rng.standard_normal(block.shape, dtype=np.float32)
        data[start:end] = normalise(block)
    return data


def squad_vectors() -> np.ndarray:
    conn = sqlite3.connect(f"file:{SQUAD_DB}?mode=ro", uri=True)
    blobs = b"".join(v for (v,) in conn.execute("SELECT vec FROM vectors"))
    conn.close()
    return np.frombuffer(blobs, dtype=np.float32).reshape(-1, DIM).copy()


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def latencies_ms(index, queries: np.ndarray, threads: int) -> np.ndarray:
    faiss.omp_set_num_threads(threads)
    out = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None], K)
        out.append(1000 * (time.perf_counter() - started))
    faiss.omp_set_num_threads(DEFAULT_THREADS)
    return np.array(out)


def add_timed(index, data: np.ndarray) -> tuple[float, float, float]:
    """Adds `data`; returns build seconds, serialized MB and the RSS growth in MB."""
    LIBC.malloc_trim(0)  # hand freed memory back first, so the growth is this index's
    rss = rss_mb()
    started = time.perf_counter()
    index.add(data)
    seconds = time.perf_counter() - started
    grown = rss_mb() - rss
    return seconds, len(faiss.serialize_index(index)) / 2**20, grown


def row(label: str, n: int, kind: str, recall: float, one: np.ndarray, default: np.ndarray, built: tuple[float, float, float]) -> None:
    seconds, size, grown = built
    print(
        f"{label:>10} {n:>9,} {kind:<22} {recall:7.3f} {np.percentile(one, 50):9.2f} {np.percentile(one, 99):9.2f} "
        f"{np.percentile(default, 50):9.2f} {seconds:9.1f} {size:9.1f} {grown:9.1f}"
    )


def measure(label: str, data: np.ndarray, args, rng: np.random.Generator) -> dict:
    """Prints the exact row, then one row per (efConstruction, efSearch); returns flat and HNSW p50s."""
    n = len(data)
    queries = normalise(
        data[rng.choice(n, args.queries, replace=False)] + QUERY_NOISE * rng.standard_normal((args.queries, DIM), dtype=np.float32)
    )
    flat = faiss.IndexFlatIP(DIM)
    built = add_timed(flat, data)
    _, truth = flat.search(queries, K)
    print(f"  {label}: exact search timed", file=sys.stderr)
    one = latencies_ms(flat, queries, 1)
    row(label, n, "Flat,IP", 1.0, one, latencies_ms(flat, queries, DEFAULT_THREADS), built)
    result = {"n": n, "flat": float(np.percentile(one, 50)), "hnsw": []}
    del flat
    for ef_construction in args.ef_construction:
        hnsw = faiss.IndexHNSWFlat(DIM, args.m, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = ef_construction
        print(f"  {label}: building HNSW{args.m} efConstruction {ef_construction}", file=sys.stderr)
        built = add_timed(hnsw, data)
        for ef_search in args.ef_search:
            hnsw.hnsw.efSearch = ef_search
            _, found = hnsw.search(queries, K)
            recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(truth, found)]))
            one = latencies_ms(hnsw, queries, 1)
            row(
                label,
                n,
                f"HNSW{args.m} efC{ef_construction} efS{ef_search}",
                recall,
                one,
                latencies_ms(hnsw, queries, DEFAULT_THREADS),
                built,
            )
            result["hnsw"].append((recall, float(np.percentile(one, 50)), f"efC{ef_construction} efS{ef_search}"))
        del hnsw
    return result


def summary(results: list[dict]) -> None:
    """Exact search is linear in n: extrapolate from the largest size; the best HNSW setting with recall >= 0.95."""
    last = results[-1]
    per_vector = last["flat"] / last["n"]
    print(
        f"exact search, 1 thread: {1e5 * per_vector:.1f} ms per 100 k vectors (from {last['n']:,}); "
        f"20 ms at ~{20 / per_vector:,.0f} vectors, 50 ms at ~{50 / per_vector:,.0f}"
    )
    for r in results:
        good = [h for h in r["hnsw"] if h[0] >= 0.95]
        if good:
            recall, ms, setting = min(good, key=lambda h: h[1])
            print(
                f"  {r['n']:>9,}: fastest HNSW with recall@10 >= 0.95: {setting}, recall {recall:.3f}, "
                f"{ms:.2f} ms vs exact {r['flat']:.2f} ms p50 = {r['flat'] / ms:.1f}x faster"
            )
        else:
            print(f"  {r['n']:>9,}: no HNSW setting reached recall@10 0.95")


def main() -> None:
    ints = lambda text: [int(x) for x in text.split(",")]  # noqa: E731
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=ints, default=[10_000, 100_000], help="comma-separated (default 10000,100000)")
    parser.add_argument("--queries", type=int, default=200, help="(default %(default)s)")
    parser.add_argument("--m", type=int, default=32, help="HNSW M (default %(default)s)")
    parser.add_argument("--ef-construction", type=ints, default=[40], help="comma-separated (default 40, faiss's and the indexer's)")
    parser.add_argument("--ef-search", type=ints, default=[64, 128, 256], help="comma-separated (default 64,128,256)")
    args = parser.parse_args()

    sys.stdout.reconfigure(line_buffering=True)
    rng = np.random.default_rng(7)
    print(f"vector_scale.py  {date.today()}  faiss {faiss.__version__}, default threads {DEFAULT_THREADS}, {args.queries} queries, k={K}")
    print(
        f"{'data':>10} {'vectors':>9} {'index':<22} {'recall':>7} {'p50 1thr':>9} {'p99 1thr':>9} {'p50 dflt':>9} {'build s':>9} {'size MB':>9} {'RSS+ MB':>9}"
    )
    measure("squad-real", squad_vectors(), args, rng)
    results = []
    for n in args.sizes:
        print(f"generating {n:,} vectors", file=sys.stderr)
        results.append(measure("synthetic", clustered(n, rng), args, rng))
    summary(results)


if __name__ == "__main__":
    main()
