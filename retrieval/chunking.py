"""Articles -> overlapping chunks of whole sentences, every offset pointing into the article text."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass

from retrieval.corpus import Article
from retrieval.sentences import paragraph_breaks, split_sentences

MIN_WORDS = 60
TARGET_WORDS = 100
MAX_WORDS = 200


@dataclass(frozen=True)
class Chunk:
    id: str  # changes whenever the chunk's text or place changes
    article_id: str
    title: str
    start: int
    end: int
    text: str
    sentences: tuple[tuple[int, int], ...]  # absolute offsets into the article text

    def sentence_texts(self) -> list[str]:
        return [self.text[s - self.start : e - self.start] for s, e in self.sentences]


def _word_count(text: str) -> int:
    return len(text.split())


def _groups(spans: list[tuple[int, int]], words: list[int], breaks: list[int]) -> list[tuple[int, int]]:
    """[i, j) sentence ranges: ~TARGET words, one sentence of overlap, preferring paragraph ends."""
    groups = []
    i, n = 0, len(spans)
    prefix = [0]
    for w in words:
        prefix.append(prefix[-1] + w)
    total_words = prefix[-1]
    while i < n:
        j, total = i, 0
        while j < n:
            if total >= MIN_WORDS and total + words[j] > MAX_WORDS:
                break
            total += words[j]
            j += 1
            if total >= TARGET_WORDS:
                break
            if total >= MIN_WORDS and j < n and _paragraph_between(spans[j - 1], spans[j], breaks):
                break
        rest = total_words - prefix[j]
        if j < n and rest < MIN_WORDS // 2 and total + rest <= MAX_WORDS:
            j = n  # a short tail joins this chunk instead of making a near-duplicate one
        groups.append((i, j))
        if j >= n:
            break
        i = j - 1 if j - 1 > i else j
    return groups


def _paragraph_between(a: tuple[int, int], b: tuple[int, int], breaks: list[int]) -> bool:
    """`breaks` is sorted: one binary search instead of a scan keeps chunking linear in the article."""
    i = bisect.bisect_left(breaks, a[1])
    return i < len(breaks) and breaks[i] <= b[0]


def chunk_article(article: Article) -> list[Chunk]:
    text = article.text
    spans = split_sentences(text, article.body_start)
    if not spans:
        return []
    words = [_word_count(text[s:e]) for s, e in spans]
    breaks = sorted(paragraph_breaks(text, article.body_start, len(text)))
    chunks = []
    for i, j in _groups(spans, words, breaks):
        start, end = spans[i][0], spans[j - 1][1]
        body = text[start:end]
        key = f"{article.id}\0{start}\0{body}".encode()
        chunks.append(
            Chunk(
                id=hashlib.sha1(key).hexdigest()[:16],
                article_id=article.id,
                title=article.title,
                start=start,
                end=end,
                text=body,
                sentences=tuple(spans[i:j]),
            )
        )
    return chunks
