"""Question -> a short extractive answer: verified quotes, numbered citations, or an honest "not found".

No generation: every sentence of an answer is a span of an indexed article, checked against the
article text at its recorded offsets before it is shown.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from retrieval import settings
from retrieval.conversation import Conversation
from retrieval.search import DEFAULT_WEIGHTS, Hit, Searcher, term_coverage
from retrieval.smalltalk import small_talk_reply
from retrieval.backends import Location, as_location, open_index, vector_key
from retrieval.reader import Reader, open_reader
from retrieval.text import STOPWORDS, query_terms, stem, stems

MAX_QUESTION_CHARS = 2000
MAX_SENTENCES = 3
DEFAULT_K = 5
SENTENCE_POOL = 3  # chunks whose sentences compete for the answer

# Abstention model without the reader: logistic over the signals of `Answerer.features`, fitted on
# the training half of the SQuAD v1.1 holdout (`python -m retrieval.eval squad --holdout --split train
# --limit 3000 --no-reader --fit`; docs/fit-abstention-no-reader-train.json). The threshold is on its
# probability-like output and is configurable with QA_ABSTAIN_THRESHOLD.
ABSTAIN_BIAS = -15.546
ABSTAIN_WEIGHTS = {"dense": 9.46, "sentence": 13.843, "coverage": 4.142, "passage_coverage": 0.929, "lexical": 2.276}
DEFAULT_ABSTAIN_THRESHOLD = 0.5

# Sentence choice: a logistic model of "this sentence holds the answer", fitted on the training half of
# SQuAD (`python -m retrieval.eval squad --split train --limit 1500 --fit`; docs/fit-sentences-train.json).
# With the reader it shortlists the sentences the reader reads.
SENTENCE_BIAS = -3.664
SENTENCE_WEIGHTS = {
    "cosine": 2.979, "overlap": 2.938, "rank": 1.975, "passage": 0.313,
    "cue": 0.254, "fragment": 0.077, "neighbour": -1.746, "new_words": -1.396,
}
SENTENCE_MARGIN = 3.0  # further sentences join the best one when within this many logits of it
SENTENCE_FLOOR = -2.0  # ... and likely enough on their own (about 12 %)

# With the learned reader (`retrieval.reader`), its logit chooses the sentences and leads abstention:
# a logistic over the reader's best logit and the retrieval signals, fitted on the training half of
# the SQuAD 2.0 holdout, unanswerable questions included (`python -m retrieval.eval squad --data
# dev-v2.0… --holdout --split train --limit 2000 --fit`; docs/fit-abstention-train.json). The fitted
# bias (-2.391) is shifted so that the default threshold 0.5 falsely declines 4 % of that half's
# answerable questions (its output 0.114 there). A fit on the SQuAD v1.1 holdout alone declines more
# out of corpus but also short answerable questions ("How many people were killed?"), so it is not used
# (docs/fit-abstention-reader-v1.1-train.json).
READER_ABSTAIN_BIAS = -0.340
READER_ABSTAIN_WEIGHTS = {"reader": 0.689, "dense": 3.716, "sentence": 1.143, "coverage": -0.752, "passage_coverage": 0.734, "lexical": 0.022}
READER_MARGIN = 6.0  # further sentences join the best one when within this many reader logits of it
READER_FLOOR = -4.0  # ... and above this logit (tuned on the training half: more context, more often the answer)
TYPE_PENALTY = 1.5  # reader logits off a sentence without the kind of thing asked for (a date for "when" ...)
NAME_PENALTY = 1.5  # ... and off one whose passage lacks a name the question asks about ("the population of Baku")
READER_CANDIDATES = 4  # the reader reads this many sentences, the fitted model's likeliest: its cost grows with each
NOT_FOUND = "I couldn't find that in the articles I have, so I won't guess. Try rephrasing, or ask about something they cover."
EMPTY_HINT = "Type a question about the articles, for example: “Who is mentioned in the articles?”"
NO_WORDS_HINT = "I can only answer questions written in words. What would you like to know about the articles?"
TOO_LONG = f"That message is too long ({{n:,}} characters). Please ask one question in under {MAX_QUESTION_CHARS:,} characters."

WHEN = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|century|decade|year|month|week)\w*", re.I)
TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")
WANTS_TIME = re.compile(r"\s*(when|what year|what date|what time|how long ago|in what year|what century)\b", re.I)
WANTS_PERSON = re.compile(r"\s*(who|whom|whose)\b", re.I)
CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")
WANTS_NUMBER = re.compile(r"\s*(how (many|much|old|long|far|big|large|tall|often)|what (percentage|number|amount))\b", re.I)
HEADING_MAX_WORDS = 10
FULL_STOP = re.compile(r"[.!?…][\"'”’)\]]*$")
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
    signals: dict = field(default_factory=dict, repr=False)  # what the abstention decision saw
    sources: tuple[Hit, ...] = field(default=(), repr=False)


def clean_question(text: str) -> str:
    """Control characters become spaces; tags and entities pasted from the web are dropped.

    Nothing is ever interpreted: this only keeps `<b>` and `&amp;` from being searched for.
    """
    # Lone surrogates (Cs) come from broken clients and cannot even be encoded: they become spaces too.
    chars = [" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") and c != "\u200d" else c for c in text]
    text = html.unescape(TAG.sub(" ", "".join(chars)))
    return " ".join(text.split())


def _is_heading(sentence: str) -> bool:
    return not FULL_STOP.search(sentence) and len(sentence.split()) <= HEADING_MAX_WORDS


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, x))))


class Answerer:
    """The one entry point both front ends use: `ask(question, conversation) -> Answer`."""

    def __init__(
        self, searcher: Searcher, k: int = DEFAULT_K, threshold: float = DEFAULT_ABSTAIN_THRESHOLD, mode: str = "hybrid", reader: Reader | None = None
    ):
        self.searcher = searcher
        self.index = searcher.index
        self.k = k
        self.threshold = threshold
        self.mode = mode
        self.reader = reader
        self.reader_candidates = READER_CANDIDATES

    @classmethod
    def open(cls, index: str | Path | Location, encoder=None, **options) -> "Answerer":
        """`reader` defaults to the one exported into the index folder (None: choose without it)."""
        if encoder is None:
            from embeddings import query_encoder

            encoder = query_encoder(as_location(index).folder)
        if "reader" not in options:
            options["reader"] = open_reader(as_location(index).folder)
        index = open_index(index, model=encoder.name)
        options.setdefault("k", int(settings.number("QA_TOP_K", DEFAULT_K)))
        options.setdefault("threshold", settings.number("QA_ABSTAIN_THRESHOLD", DEFAULT_ABSTAIN_THRESHOLD))
        fusion = settings.setting("QA_FUSION", "zscore")
        weights = settings.numbers("QA_FUSION_WEIGHTS", DEFAULT_WEIGHTS)
        return cls(Searcher(index, encoder, fusion=fusion, weights=weights), **options)

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

    def answer_query(self, question: str, query: str) -> Answer:
        terms = query_terms(query)
        idf = self.index.idf(terms)
        hits = self.searcher.search(query, self.k, self.mode, idf=idf)
        signals = self.features(hits, terms, idf)
        candidates = self.candidates(query, hits, terms, idf)
        if self.reader is not None:
            hits = self._read(query, hits, candidates, signals)
        confidence = self.confidence(signals)
        citations = self._compose(candidates) if hits and confidence >= self.threshold else []
        if not citations:
            return Answer(question, NOT_FOUND, (), True, "not_found", confidence, query, signals, tuple(hits))
        text = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
        return Answer(question, text, tuple(citations), False, "answer", confidence, query, signals, tuple(hits))

    def features(self, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> dict[str, float]:
        """The abstention signals: how close the best passage is, and how much of the question it covers."""
        top = hits[:SENTENCE_POOL]
        passages = " ".join(h.chunk.title + " " + h.chunk.text for h in top)
        return {
            "dense": max((h.dense for h in top), default=0.0),
            "sentence": max((h.sentence for h in top), default=0.0),
            "coverage": max((h.coverage for h in top), default=0.0),
            "passage_coverage": term_coverage(terms, idf, passages),
            "lexical": max((h.lexical for h in top), default=0.0) / (sum(idf.values()) or 1.0),
        }

    @staticmethod
    def confidence(f: dict[str, float]) -> float:
        if "reader" in f:
            return _sigmoid(READER_ABSTAIN_BIAS + sum(w * f[name] for name, w in READER_ABSTAIN_WEIGHTS.items()))
        return _sigmoid(ABSTAIN_BIAS + sum(w * f[name] for name, w in ABSTAIN_WEIGHTS.items()))

    def _read(self, query: str, hits: list[Hit], candidates: list[dict], signals: dict[str, float]) -> list[Hit]:
        """The reader scores the shortlisted sentences with the question; its logit replaces the
        sentence model's, its best logit joins the abstention signals, and the passages it read are
        re-ranked by their best sentence."""
        shortlist = sorted(candidates, key=lambda c: -c["score"])[: self.reader_candidates]
        for c in candidates:
            c["features"]["sentence_model"] = c["score"]
            c["score"] = -99.0  # not read: never chosen over a sentence the reader read
        texts = [(c["hit"].chunk.title, c["hit"].chunk.text[c["start"] - c["hit"].chunk.start : c["end"] - c["hit"].chunk.start]) for c in shortlist]
        logits = self.reader.score(query, texts)
        best: dict[int, float] = {}
        for c, logit in zip(shortlist, logits.tolist()):
            c["score"] = logit - TYPE_PENALTY * c["features"]["type_mismatch"] - NAME_PENALTY * c["features"]["missing_name"]
            best[c["hit"].chunk.rowid] = max(best.get(c["hit"].chunk.rowid, -99.0), c["score"])
        signals["reader"] = max(best.values(), default=-10.0)
        read = sorted(hits[:SENTENCE_POOL], key=lambda h: -best.get(h.chunk.rowid, -99.0))
        return read + hits[SENTENCE_POOL:]

    def candidates(self, query: str, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> list[dict]:
        """Every sentence of the top passages, with the signals that say whether it answers."""
        wants_time = bool(WANTS_TIME.match(query))
        wants_number = bool(WANTS_NUMBER.match(query))
        wants_person = bool(WANTS_PERSON.match(query))
        question_words = stems(query)
        names = {stem(m.group()) for m in CAPITALISED.finditer(query, 1)} - STOPWORDS
        out, seen = [], set()
        for rank, hit in enumerate(hits[:SENTENCE_POOL]):
            missing_name = bool(names - stems(hit.chunk.title + " " + hit.chunk.text))
            texts = hit.chunk.sentence_texts()
            cosines = hit.sentence_cosines
            for i, ((s, e), sentence) in enumerate(zip(hit.chunk.sentences, texts)):
                if (hit.chunk.article_id, s) in seen:
                    continue  # the overlap sentence of two neighbouring passages
                seen.add((hit.chunk.article_id, s))
                words = stems(sentence)
                neighbours = [cosines[j] for j in (i - 1, i + 1) if 0 <= j < len(cosines)]
                cue = (wants_time and bool(WHEN.search(sentence))) or (wants_number and bool(NUMBER.search(sentence)))
                new_names = {stem(m.group()) for m in CAPITALISED.finditer(sentence, 1)} - question_words  # a name the question lacks
                mismatch = (wants_time or wants_number) and not cue or (wants_person and not new_names)
                new_terms = {stem(t) for t in query_terms(sentence)} - question_words
                features = {
                    "cosine": cosines[i],
                    "overlap": term_coverage(terms, idf, sentence),
                    "rank": 1 / (1 + rank),
                    "passage": hit.score - hits[0].score,
                    "cue": float(cue),
                    "fragment": float(not FULL_STOP.search(sentence)),
                    "neighbour": max(neighbours, default=0.0),
                    "new_words": len(words - question_words) / max(len(words), 1),
                    "type_mismatch": float(mismatch),
                    "missing_name": float(missing_name),
                    "restates": float(not new_terms),  # says nothing the question did not
                }
                score = SENTENCE_BIAS + sum(w * features[name] for name, w in SENTENCE_WEIGHTS.items())
                out.append({"score": score, "hit": hit, "start": s, "end": e, "key": hit.chunk.sentence_keys[i], "features": features})
        return out

    def _compose(self, candidates: list[dict]) -> list[Citation]:
        # Headlines and captions (short, no full stop) help search but make poor answers.
        # A sentence that only restates the question answers nothing.
        candidates = [
            c for c in candidates
            if not c["features"]["restates"] and not _is_heading(c["hit"].chunk.text[c["start"] - c["hit"].chunk.start : c["end"] - c["hit"].chunk.start])
        ]
        if not candidates:
            return []
        candidates.sort(key=lambda c: -c["score"])
        margin, floor = (READER_MARGIN, READER_FLOOR) if self.reader is not None else (SENTENCE_MARGIN, SENTENCE_FLOOR)
        best = candidates[0]["score"]
        chosen = [candidates[0]] + [c for c in candidates[1:MAX_SENTENCES] if c["score"] >= max(best - margin, floor)]
        # Most likely answer first: a reader who stops after one sentence gets the best one.
        citations = []
        for c in chosen:
            score, hit, s, e, key = c["score"], c["hit"], c["start"], c["end"], c["key"]
            quote = self.index.article_text(hit.chunk.article_id)[s:e]
            # The text at the offsets must still hash to what was embedded for this sentence.
            if not (hit.chunk.start <= s < e <= hit.chunk.end) or vector_key(self.index.model, quote) != key:
                continue  # never cite what cannot be traced back
            citations.append(
                Citation(len(citations) + 1, hit.chunk.article_id, hit.chunk.title, hit.chunk.id, s, e, quote, round(score, 4), hit.chunk.text, hit.chunk.start)
            )
        return citations
