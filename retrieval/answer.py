"""Question -> a short extractive answer: verified quotes, numbered citations, or an honest "not found".

No generation: every sentence of an answer is a span of an indexed article, checked against the
article text at its recorded offsets before it is shown.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from retrieval import settings
from retrieval.conversation import Conversation
from retrieval.search import Hit, Searcher
from retrieval.smalltalk import small_talk_reply
from retrieval.store import Index, vector_key
from retrieval.text import query_terms, stem, stems

MAX_QUESTION_CHARS = 2000
MAX_SENTENCES = 3
DEFAULT_K = 5
SENTENCE_POOL = 3  # chunks whose sentences compete for the answer

# Abstention model: logistic over (top dense cosine, share of question terms the passages cover).
# Fitted by `python -m retrieval.eval squad --holdout` (see README, "Abstention"); the threshold is
# on its probability-like output and is configurable with QA_ABSTAIN_THRESHOLD.
ABSTAIN_WEIGHTS = {"bias": -6.0, "dense": 10.0, "coverage": 5.0}
DEFAULT_ABSTAIN_THRESHOLD = 0.5

NOT_FOUND = "I couldn't find that in the articles I have, so I won't guess. Try rephrasing, or ask about something they cover."
EMPTY_HINT = "Type a question about the articles, for example: “Who is mentioned in the articles?”"
NO_WORDS_HINT = "I can only answer questions written in words. What would you like to know about the articles?"
TOO_LONG = f"That message is too long ({{n:,}} characters). Please ask one question in under {MAX_QUESTION_CHARS:,} characters."

WHEN = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|century|decade|year|month|week)\w*", re.I)
NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozen)\b", re.I)


@dataclass(frozen=True)
class Citation:
    n: int
    article: str  # path relative to the corpus folder
    title: str
    chunk_id: str
    start: int  # offsets of the quote in the article text
    end: int
    quote: str
    score: float
    passage: str  # the whole chunk the quote came from, for "show sources"
    passage_start: int


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    kind: str = "answer"  # answer | not_found | small_talk | hint | too_long
    confidence: float = 0.0
    query: str = ""  # what retrieval searched for (differs from the question on follow-ups)
    sources: tuple[Hit, ...] = field(default=(), repr=False)


def clean_question(text: str) -> str:
    """Control characters become spaces; everything else (markup included) stays plain text."""
    chars = [" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c != "\u200d" else c for c in text]
    return " ".join("".join(chars).split())


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, x))))


class Answerer:
    """The one entry point both front ends use: `ask(question, conversation) -> Answer`."""

    def __init__(self, searcher: Searcher, k: int = DEFAULT_K, threshold: float = DEFAULT_ABSTAIN_THRESHOLD, mode: str = "hybrid"):
        self.searcher = searcher
        self.index = searcher.index
        self.k = k
        self.threshold = threshold
        self.mode = mode

    @classmethod
    def open(cls, index_dir: str | Path, encoder=None, **options) -> "Answerer":
        if encoder is None:
            from embeddings import Encoder

            encoder = Encoder()
        index = Index.open(index_dir, model=encoder.name)
        options.setdefault("k", int(settings.number("QA_TOP_K", DEFAULT_K)))
        options.setdefault("threshold", settings.number("QA_ABSTAIN_THRESHOLD", DEFAULT_ABSTAIN_THRESHOLD))
        fusion = settings.setting("QA_FUSION", "zscore")
        weight = settings.number("QA_DENSE_WEIGHT", 0.5)
        return cls(Searcher(index, encoder, fusion=fusion, dense_weight=weight), **options)

    def ask(self, question: str, conversation: Conversation | None = None) -> Answer:
        raw = question
        if len(raw) > MAX_QUESTION_CHARS:
            return Answer(raw, TOO_LONG.format(n=len(raw)), abstained=True, kind="too_long")
        question = clean_question(raw)
        if not question:
            return Answer(raw, EMPTY_HINT, abstained=True, kind="hint")
        reply = small_talk_reply(question)
        if reply:
            return Answer(raw, reply, abstained=True, kind="small_talk")
        if not any(c.isalnum() for c in question):
            return Answer(raw, NO_WORDS_HINT, abstained=True, kind="hint")
        query = conversation.resolve(question) if conversation else question
        answer = self.answer_query(raw, query)
        if conversation is not None:
            conversation.remember(question, query, answer)
        return answer

    def answer_query(self, question: str, query: str, mode: str | None = None) -> Answer:
        qvec = self.searcher.encode(query)
        hits = self.searcher.search(query, self.k, mode or self.mode, query_vector=qvec)
        terms = query_terms(query)
        idf = self._idf(terms)
        confidence = self.confidence(hits, terms, idf)
        if not hits or confidence < self.threshold:
            return Answer(question, NOT_FOUND, abstained=True, kind="not_found", confidence=confidence, query=query, sources=tuple(hits))
        citations = self._compose(query, qvec, hits, terms, idf)
        if not citations:
            return Answer(question, NOT_FOUND, abstained=True, kind="not_found", confidence=confidence, query=query, sources=tuple(hits))
        text = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
        return Answer(question, text, tuple(citations), False, "answer", confidence, query, tuple(hits))

    def _idf(self, terms: list[str]) -> dict[str, float]:
        n = max(len(self.index), 1)
        df = self.index.document_frequency(terms)
        return {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in terms}

    def features(self, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> dict[str, float]:
        """The abstention signals: how close the best passage is, and how much of the question it covers."""
        top = hits[:SENTENCE_POOL]
        dense = max((h.dense for h in top), default=0.0)
        covered = set().union(*(stems(h.chunk.title + " " + h.chunk.text) for h in top)) if top else set()
        total = sum(idf.values())
        coverage = sum(idf[t] for t in terms if stem(t) in covered) / total if total else 0.0
        return {"dense": dense, "coverage": coverage}

    def confidence(self, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> float:
        f = self.features(hits, terms, idf)
        w = ABSTAIN_WEIGHTS
        return _sigmoid(w["bias"] + w["dense"] * f["dense"] + w["coverage"] * f["coverage"])

    def _compose(self, query: str, qvec: np.ndarray, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> list[Citation]:
        candidates = []  # (score, hit, start, end)
        seen = set()
        total_idf = sum(idf.values()) or 1.0
        wants_time = bool(re.match(r"\s*(when|what year|what date|what time|how long)", query, re.I))
        wants_number = bool(re.match(r"\s*(how (many|much|old|long|far|big|large)|what (percentage|number))", query, re.I))
        for rank, hit in enumerate(hits[:SENTENCE_POOL]):
            text = self.index.article_text(hit.chunk.article_id)
            spans = [(s, e) for s, e in hit.chunk.sentences if (hit.chunk.article_id, s) not in seen]
            seen.update((hit.chunk.article_id, s) for s, e in spans)
            keys = [vector_key(self.index.model, text[s:e]) for s, e in spans]
            vectors = self.index.stored_vectors(keys)
            for (s, e), key in zip(spans, keys):
                sentence = text[s:e]
                vec = vectors.get(key)
                cosine = float(vec @ qvec) if vec is not None else 0.0
                words = stems(sentence)
                overlap = sum(idf[t] for t in terms if stem(t) in words) / total_idf
                cue = 0.0
                if wants_time and WHEN.search(sentence):
                    cue = 1.0
                elif wants_number and NUMBER.search(sentence):
                    cue = 1.0
                score = 0.55 * cosine + 0.3 * overlap + 0.1 / (1 + rank) + 0.05 * cue
                candidates.append((score, hit, s, e))
        if not candidates:
            return []
        candidates.sort(key=lambda c: -c[0])
        best = candidates[0][0]
        chosen = [c for c in candidates[:MAX_SENTENCES] if c[0] >= 0.75 * best]
        # Readable order: by source passage as ranked, then as the sentences stand in the article.
        hit_order = {id(h): i for i, h in enumerate(hits)}
        chosen.sort(key=lambda c: (hit_order[id(c[1])], c[2]))
        citations = []
        for score, hit, s, e in chosen:
            text = self.index.article_text(hit.chunk.article_id)
            quote = text[s:e]
            if not (hit.chunk.start <= s < e <= hit.chunk.end) or text[s:e] != quote or not quote.strip():
                continue  # never cite what cannot be traced back
            citations.append(
                Citation(len(citations) + 1, hit.chunk.article_id, hit.chunk.title, hit.chunk.id, s, e, quote, round(score, 4), hit.chunk.text, hit.chunk.start)
            )
        return citations
