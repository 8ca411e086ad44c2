"""What every backend stores and answers, so that search, answering and the bots never learn which one runs.

Read side (`Index`): dense and lexical candidates, chunks with their sentence offsets, and the
cached vectors of chunks and sentences. Write side (`Writer`): article hashes, the vector cache,
and one atomic swap of changed and removed articles.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from retrieval.chunking import Chunk
from retrieval.corpus import Article, Source
from retrieval.secrets import database_secrets, describe_database, protect


def redact(url: str) -> str:
    """A database for logs and error messages: its host and name only; its password is also
    registered, so no log line can carry it (`retrieval.secrets`)."""
    protect(*database_secrets(url))
    return describe_database(url)


def article_row(a: Article) -> tuple:
    """An article as both backends store it; page starts as JSON (NULL when there are none)."""
    return (a.id, a.title, a.text, a.hash, a.date, a.url, json.dumps(a.pages) if a.pages else None)


def source_of(date: str | None, url: str | None, pages: str | None) -> Source:
    return Source(date, url, tuple(json.loads(pages)) if pages else ())


def vector_key(model: str, text: str) -> str:
    return hashlib.sha256(f"{model}\0{text}".encode()).hexdigest()


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


@dataclass(frozen=True)
class ChunkRow:
    """One chunk as both backends write it."""

    id: str
    article_id: str
    ord: int
    start: int
    end: int
    title: str
    text: str
    sentences: list[tuple[int, int]]  # article offsets
    sentence_texts: list[str]
    vector_key: str
    sentence_keys: list[str]

    def texts(self) -> dict[str, str]:
        """Every text this chunk needs embedded, by vector cache key: itself and each of its sentences."""
        return dict(zip([self.vector_key, *self.sentence_keys], [self.text, *self.sentence_texts]))


def chunk_rows(article: Article, chunks: list[Chunk], model: str) -> list[ChunkRow]:
    rows = []
    for ord_, chunk in enumerate(chunks):
        sentences = chunk.sentence_texts()
        rows.append(
            ChunkRow(
                chunk.id,
                article.id,
                ord_,
                chunk.start,
                chunk.end,
                article.title,
                chunk.text,
                list(chunk.sentences),
                sentences,
                vector_key(model, chunk.text),
                [vector_key(model, t) for t in sentences],
            )
        )
    return rows


class Index:
    """Read side of a built index. Implementations are safe for concurrent readers."""

    model: str

    def __len__(self) -> int:  # chunks
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def dense(self, query_vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(chunk rowid, cosine) of the k nearest chunks, best first."""
        raise NotImplementedError

    def lexical(self, query: str, k: int) -> list[tuple[int, float]]:
        """(chunk rowid, BM25) of the k best full-text matches, best first."""
        raise NotImplementedError

    def document_frequency(self, terms: list[str]) -> dict[str, int]:
        """How many chunks contain each term (stemmed the way full-text search stems)."""
        raise NotImplementedError

    def chunks(self, rowids: list[int]) -> dict[int, StoredChunk]:
        raise NotImplementedError

    def chunk_by_id(self, chunk_id: str) -> StoredChunk | None:
        raise NotImplementedError

    def article_text(self, article_id: str) -> str:
        raise NotImplementedError

    def article_source(self, article_id: str) -> Source:
        """The article's publication date, URL and page starts, when its file said (web pages, PDFs, Word files)."""
        raise NotImplementedError

    def stored_vectors(self, keys: list[str]) -> dict[str, np.ndarray]:
        """Cached vectors by key (sentences and chunks alike)."""
        raise NotImplementedError

    def chunk_vectors(self, rowids: list[int]) -> np.ndarray:
        """The chunks' own vectors, in order (zeros for a chunk that is gone)."""
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        raise NotImplementedError

    def article_titles(self) -> list[tuple[str, str]]:
        """(id, title) of every article, sorted by id."""
        raise NotImplementedError

    def passages_of(self, article_id: str) -> int:
        raise NotImplementedError

    def idf(self, terms: list[str]) -> dict[str, float]:
        """BM25's idf of each term over chunks: rare words weigh more in coverage."""
        n = max(len(self), 1)
        df = self.document_frequency(terms)
        return {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}


class Writer:
    """Write side: `index.build` asks what is stored, fills the vector cache, then swaps articles in one step."""

    model: str | None  # what the index was built with; None for a new one

    def stored_hashes(self) -> dict[str, str]:
        raise NotImplementedError

    def is_complete(self) -> bool:
        """False for a new index, or one whose first build never finished."""
        raise NotImplementedError

    def missing_keys(self, keys: list[str]) -> list[str]:
        raise NotImplementedError

    def save_vectors(self, keys: list[str], vectors: np.ndarray) -> None:
        """Committed at once: a build killed later keeps them."""
        raise NotImplementedError

    def commit(self, articles: list[Article], removed: list[str], rows: list[ChunkRow], model: str, dim: int, corpus: str = "") -> None:
        """Replaces `articles` and deletes `removed`, all or nothing, as readers see it; records the corpus
        folder, so advice to rebuild can name it."""
        raise NotImplementedError

    def chunk_count(self) -> int:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
