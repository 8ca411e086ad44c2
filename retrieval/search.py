"""Dense, lexical and fused search over an Index, returning chunks with their scores.

Hybrid ranking fuses four signals by weighted z-scores over the candidate pool: the chunk's
cosine, its BM25, its best sentence's cosine, and the share of the question's (idf-weighted)
terms that its best sentence holds. Short sentences match questions better than whole chunks
do; the weights come from SQuAD (README, "Results").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retrieval.backends import Index, StoredChunk
from retrieval.text import query_terms, stem, stems

MODES = ("hybrid", "dense", "lexical")
FUSIONS = ("zscore", "rrf")
DEFAULT_WEIGHTS = (0.2, 0.2, 0.4, 0.2)  # dense, lexical, best sentence, best-sentence coverage
RRF_K = 60
SWAP_RETRIES = 3


@dataclass(frozen=True)
class Hit:
    chunk: StoredChunk
    score: float  # what the ranking used: fused, cosine or bm25, by mode
    dense: float  # cosine of question and chunk
    lexical: float  # bm25 (0 when no term matched)
    sentence: float  # best cosine of question and one of the chunk's sentences
    coverage: float  # best share of the question's idf mass found in one sentence
    sentence_cosines: tuple[float, ...]  # each sentence's cosine, in passage order (answers reuse them)


def _zscores(values: np.ndarray) -> np.ndarray:
    std = values.std()
    return (values - values.mean()) / std if std > 1e-9 else np.zeros_like(values)


def term_coverage(terms: list[str], idf: dict[str, float], text: str) -> float:
    total = sum(idf[t] for t in terms)
    words = stems(text)
    return sum(idf[t] for t in terms if stem(t) in words) / total if total else 0.0


class Searcher:
    """Ties an Index to the query encoder and the fusion settings."""

    def __init__(self, index: Index, encoder, fusion: str = "zscore", weights=DEFAULT_WEIGHTS, pool: int = 50):
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        if len(weights) != 4:
            raise ValueError("weights are four numbers: dense, lexical, sentence, coverage")
        self.index = index
        self.encoder = encoder
        self.fusion = fusion
        self.weights = np.array(weights, dtype=float)
        self.pool = pool

    def encode(self, text: str) -> np.ndarray:
        return self.encoder.encode([text])[0]

    def search(
        self, query: str, k: int = 5, mode: str = "hybrid", query_vector: np.ndarray | None = None, idf: dict[str, float] | None = None
    ) -> list[Hit]:
        """`query_vector` and `idf` (of the query's terms) may come from a caller that needs them too."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        qvec = self.encode(query) if query_vector is None else query_vector
        pool = max(self.pool, k)
        for _ in range(SWAP_RETRIES):
            ids, dense, lexical, chunks = self._candidates(query, qvec, pool, mode)
            if len(chunks) == len(ids):
                break  # else an update swapped passages between two reads: ask the new index again
        ids = [i for i in ids if i in chunks]
        if not ids:
            return []
        # Every candidate gets every score, so fusion and abstention see the full picture.
        missing = [i for i in ids if i not in dense]
        if missing:
            dense.update(zip(missing, (self.index.chunk_vectors(missing) @ qvec).tolist()))
        d = np.array([dense[i] for i in ids])
        lex = np.array([lexical.get(i, 0.0) for i in ids])
        if idf is None:
            idf = self.index.idf(query_terms(query))
        cosines, cov = self._sentence_signals(idf, qvec, [chunks[i] for i in ids])
        sent = np.array([max(c, default=0.0) for c in cosines])
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
            signals = np.vstack([_zscores(d), _zscores(lex_filled), _zscores(sent), _zscores(cov)])
            scores = self.weights @ signals
        return self._top(ids, chunks, scores, d, lex, sent, cov, cosines, k)

    def _candidates(self, query: str, qvec: np.ndarray, pool: int, mode: str):
        dense = dict(self.index.dense(qvec, pool)) if mode != "lexical" else {}
        lexical = dict(self.index.lexical(query, pool)) if mode != "dense" else {}
        ids = list(dict.fromkeys([*dense, *lexical]))
        return ids, dense, lexical, self.index.chunks(ids) if ids else {}

    @staticmethod
    def _top(ids, chunks, scores, d, lex, sent, cov, cosines, k: int) -> list[Hit]:
        order = np.argsort(-scores, kind="stable")
        hits, seen_texts = [], set()
        for j in order:
            chunk = chunks[ids[j]]
            key = " ".join(chunk.text.split()).lower()
            if key in seen_texts:
                continue  # the same passage in two copies of an article
            seen_texts.add(key)
            hits.append(Hit(chunk, float(scores[j]), float(d[j]), float(lex[j]), float(sent[j]), float(cov[j]), cosines[j]))
            if len(hits) == k:
                break
        return hits

    def _sentence_signals(
        self, idf: dict[str, float], qvec: np.ndarray, chunks: list[StoredChunk]
    ) -> tuple[list[tuple[float, ...]], np.ndarray]:
        """Each chunk's sentence cosines, and its best sentence's coverage of the query's terms."""
        terms = list(idf)
        vectors = self.index.stored_vectors(list({k for c in chunks for k in c.sentence_keys}))
        cosines, best_cov = [], []
        for chunk in chunks:
            cosines.append(tuple(float(vectors[k] @ qvec) if k in vectors else 0.0 for k in chunk.sentence_keys))
            best_cov.append(max((term_coverage(terms, idf, s) for s in chunk.sentence_texts()), default=0.0))
        return cosines, np.array(best_cov)


def _rrf(ids: list[int], dense: dict[int, float], lexical: dict[int, float]) -> np.ndarray:
    def ranks(scores: dict[int, float]) -> dict[int, int]:
        return {cid: r for r, cid in enumerate(sorted(scores, key=scores.get, reverse=True))}

    dense_rank, lexical_rank = ranks(dense), ranks(lexical)
    return np.array([1 / (RRF_K + dense_rank.get(i, len(ids))) + (1 / (RRF_K + lexical_rank[i]) if i in lexical_rank else 0) for i in ids])
