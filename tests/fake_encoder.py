"""A deterministic stand-in for the embedding model, for tests about indexing, front ends and failures.

Each content word (lower-cased, stop words dropped, a crude plural stripped) adds ±1 to a dimension chosen by its hash, so texts that
share words point the same way and every run gives the same vectors, without torch or a model load.
Tests where the model itself is the point (quality, parity, the reader) use the real one.
"""

from __future__ import annotations

import hashlib

import numpy as np

from retrieval.text import query_terms

DIM = 384  # the postgres schema fixes the vector width


def _slot(word: str) -> tuple[int, float]:
    digest = hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % DIM, 1.0 if value >> 63 else -1.0


class HashEncoder:
    name = "hashed-words-test"
    dim = DIM

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in query_terms(text):
                slot, sign = _slot(word.removesuffix("s") if len(word) > 3 else word)
                vectors[row, slot] += sign
            vectors[row, 0] += 1e-3  # an empty text still has a direction
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors


# Its cosines run lower than the model's: answerable seed questions score 0.2-0.6 with it, questions the
# seeds cannot answer under 0.01, so answers from a fake index decline below this instead of 0.5.
THRESHOLD = 0.1


def fake_answerer(where, encoder=None):
    """An Answerer over an index built with the fake encoder, without the reader (which needs torch)."""
    from retrieval.answer import Answerer

    return Answerer.open(where, encoder=encoder or HashEncoder(), reader=None, threshold=THRESHOLD)
