"""Dense, lexical and fused search over an Index, returning chunks with their scores."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.store import Index, StoredChunk

MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("zscore", "rrf")
RRF_K = 60


@dataclass(frozen=True)
class Hit:
    chunk: StoredChunk
    score: float  # what the ranking used: fused, cosine or bm25, by mode
    dense: float  # cosine of question and chunk
    lexical: float  # bm25 (0 when no term matched)


def _zscores(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


class Searcher:
    """Ties an Index to the query encoder. `dense_weight` is the share of the dense z-score in fusion."""

    def __init__(self, index: Index, encoder, fusion: str = "zscore", dense_weight: float = 0.5, pool: int = 50):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}")
        self.index = index
        self.encoder = encoder
        self.fusion = fusion
        self.dense_weight = dense_weight
        self.pool = pool

    def encode(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def search(self, query: str, k: int = 5, mode: str = "hybrid", query_vector: np.ndarray | None = None) -> list[Hit]:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        pool = max(self.pool, k)
        qvec = self.encode(query) if query_vector is None else query_vector
        dense = dict(self.index.dense(qvec, pool)) if mode != "lexical" else {}
        lexical = dict(self.index.lexical(query, pool)) if mode != "dense" else {}
        ids = list(dict.fromkeys([*dense, *lexical]))
        if not ids:
            return []
        # Every candidate gets both scores, so fusion and abstention see the full picture.
        missing = [i for i in ids if i not in dense]
        if missing:
            vectors = np.vstack([self.index.vectors.reconstruct(int(i)) for i in missing])
            dense.update(zip(missing, (vectors @ qvec).tolist()))
        d = np.array([dense[i] for i in ids])
        lex = np.array([lexical.get(i, 0.0) for i in ids])
        if mode == "dense":
            scores = d
        elif mode == "lexical":
            scores = lex
        elif self.fusion == "rrf":
            scores = _rrf(ids, dense, lexical)
        else:
            # Unmatched chunks score 0; chunks cut off by the pool get the lowest score seen.
            floor = min(lexical.values()) if len(lexical) >= pool else 0.0
            lex_filled = np.array([lexical.get(i, floor) for i in ids])
            scores = self.dense_weight * _zscores(d) + (1 - self.dense_weight) * _zscores(lex_filled)
        order = np.argsort(-scores, kind="stable")
        chunks = self.index.chunks([ids[i] for i in order[: k * 2]])
        hits, seen_texts = [], set()
        for i in order:
            chunk = chunks.get(ids[i])
            if chunk is None:
                continue
            key = " ".join(chunk.text.split()).lower()
            if key in seen_texts:
                continue  # the same passage in two copies of an article
            seen_texts.add(key)
            hits.append(Hit(chunk, float(scores[i]), float(d[i]), float(lex[i])))
            if len(hits) == k:
                break
        return hits


def _rrf(ids: list[int], dense: dict[int, float], lexical: dict[int, float]) -> np.ndarray:
    def ranks(scores: dict[int, float]) -> dict[int, int]:
        return {cid: r for r, cid in enumerate(sorted(scores, key=scores.get, reverse=True))}

    dense_rank, lexical_rank = ranks(dense), ranks(lexical)
    return np.array(
        [
            1 / (RRF_K + dense_rank.get(i, len(ids))) + (1 / (RRF_K + lexical_rank[i]) if i in lexical_rank else 0)
            for i in ids
        ]
    )
