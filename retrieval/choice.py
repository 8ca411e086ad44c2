"""Sentence choice: which sentences of the top passages answer the question, best first.

Every sentence of the top passages becomes a `Candidate` with the signals that say whether it
answers; a fitted logistic model scores it, and the learned reader (when there is one) re-scores
the model's shortlist by reading question and sentence together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from retrieval.abstention import SENTENCE_POOL
from retrieval.reader import Reader
from retrieval.search import Hit, term_coverage
from retrieval.text import STOPWORDS, query_terms, stem, stems

MAX_SENTENCES = 3

# "This sentence holds the answer": a logistic model fitted on the training half of SQuAD
# (`python -m retrieval.eval squad --split train --limit 1500 --fit`; docs/fit-sentences-train.json: 1,500 questions).
# With the reader it shortlists the sentences the reader reads.
SENTENCE_BIAS = -3.442
SENTENCE_WEIGHTS = {
    "cosine": 2.622,
    "overlap": 3.077,
    "rank": 1.917,
    "passage": 0.308,
    "cue": 0.279,
    "fragment": 0.022,
    "neighbour": -1.679,
    "new_words": -1.569,
}
SENTENCE_MARGIN = 3.0  # further sentences join the best one when within this many logits of it
SENTENCE_FLOOR = -2.0  # ... and likely enough on their own (about 12 %)

READER_MARGIN = 6.0  # with the reader: within this many reader logits of the best
READER_FLOOR = -4.0  # ... and above this logit (tuned on the training half: more context, more often the answer)
TYPE_PENALTY = 1.5  # reader logits off a sentence without the kind of thing asked for (a date for "when" ...)
NAME_PENALTY = 1.5  # ... and off one whose passage lacks a name the question asks about ("the population of Baku")
READER_CANDIDATES = 4  # the reader reads this many sentences, the fitted model's likeliest: its cost grows with each
OTHER_ARTICLE_FLOOR = 0.0  # a further quote from another article than the best one must be likely on its own
# (logit 0: even odds). On 600 training-half questions (all four eval systems) it drops 99 of 104 such quotes and changes no
# answer's hold on the gold; on a mixed news folder it keeps unrelated articles out of an answer.
NOT_READ = -99.0  # the score of a sentence the reader did not read: never chosen over one it read

WHEN = re.compile(
    r"\b(1[0-9]{3}|20[0-9]{2}|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|monday|tuesday|wednesday|thursday"
    r"|friday|saturday|sunday|today|yesterday|century|decade|year|month|week)\w*",
    re.I,
)
WANTS_TIME = re.compile(r"\s*(when|what year|what date|what time|how long ago|in what year|what century)\b", re.I)
WANTS_PERSON = re.compile(r"\s*(who|whom|whose)\b", re.I)
WANTS_NUMBER = re.compile(r"\s*(how (many|much|old|long|far|big|large|tall|often)|what (percentage|number|amount))\b", re.I)
CAPITALISED = re.compile(r"\b[A-Z][\w'’-]+")
NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozen)\b", re.I)
FULL_STOP = re.compile(r"[.!?…][\"'”’)\]]*$")
HEADING_MAX_WORDS = 10


@dataclass
class Candidate:
    """One sentence of a retrieved passage; `score` is the sentence model's logit, then the reader's."""

    hit: Hit
    start: int  # offsets in the article
    end: int
    key: str  # the vector cache key of the sentence: what its quote must still hash to
    features: dict[str, float]
    score: float = 0.0
    sentence_model: float = field(default=0.0, repr=False)  # the fitted model's logit, kept when the reader re-scores

    @property
    def text(self) -> str:
        chunk = self.hit.chunk
        return chunk.text[self.start - chunk.start : self.end - chunk.start]


@dataclass(frozen=True)
class Asked:
    """What the question asks for, read once for all its candidate sentences."""

    time: bool
    number: bool
    person: bool
    words: frozenset[str]  # stems of the question
    names: frozenset[str]  # stems of its capitalised words after the first

    @classmethod
    def of(cls, query: str) -> Asked:
        names = frozenset({stem(m.group()) for m in CAPITALISED.finditer(query, 1)} - STOPWORDS)
        return cls(bool(WANTS_TIME.match(query)), bool(WANTS_NUMBER.match(query)), bool(WANTS_PERSON.match(query)), stems(query), names)


def candidates(query: str, hits: list[Hit], terms: list[str], idf: dict[str, float]) -> list[Candidate]:
    """Every sentence of the top passages (each once), scored by the fitted sentence model."""
    asked = Asked.of(query)
    out, seen = [], set()
    for rank, hit in enumerate(hits[:SENTENCE_POOL]):
        missing_name = bool(asked.names - stems(hit.chunk.title + " " + hit.chunk.text))
        for i, ((s, e), sentence) in enumerate(zip(hit.chunk.sentences, hit.chunk.sentence_texts())):
            if (hit.chunk.article_id, s) in seen:
                continue  # the overlap sentence of two neighbouring passages
            seen.add((hit.chunk.article_id, s))
            features = _features(asked, sentence, terms, idf, hit, hits[0], rank, i)
            features["missing_name"] = float(missing_name)
            score = SENTENCE_BIAS + sum(w * features[name] for name, w in SENTENCE_WEIGHTS.items())
            out.append(Candidate(hit, s, e, hit.chunk.sentence_keys[i], features, score, score))
    return out


def _features(asked: Asked, sentence: str, terms, idf, hit: Hit, best: Hit, rank: int, i: int) -> dict[str, float]:
    cosines = hit.sentence_cosines
    words = stems(sentence)
    neighbours = [cosines[j] for j in (i - 1, i + 1) if 0 <= j < len(cosines)]
    cue = (asked.time and bool(WHEN.search(sentence))) or (asked.number and bool(NUMBER.search(sentence)))
    new_names = {stem(m.group()) for m in CAPITALISED.finditer(sentence, 1)} - asked.words  # a name the question lacks
    mismatch = (asked.time or asked.number) and not cue or (asked.person and not new_names)
    new_terms = {stem(t) for t in query_terms(sentence)} - asked.words
    return {
        "cosine": cosines[i],
        "overlap": term_coverage(terms, idf, sentence),
        "rank": 1 / (1 + rank),
        "passage": hit.score - best.score,
        "cue": float(cue),
        "fragment": float(not FULL_STOP.search(sentence)),
        "neighbour": max(neighbours, default=0.0),
        "new_words": len(words - asked.words) / max(len(words), 1),
        "type_mismatch": float(mismatch),
        "restates": float(not new_terms),  # says nothing the question did not
    }


def read(reader: Reader, query: str, hits: list[Hit], found: list[Candidate], limit: int = READER_CANDIDATES) -> tuple[list[Hit], float]:
    """The reader scores the shortlisted sentences with the question; its logit replaces the sentence
    model's. Returns the hits with the passages it read re-ranked by their best sentence, and its
    best logit (a signal for abstention)."""
    shortlist = sorted(found, key=lambda c: -c.score)[:limit]
    for c in found:
        c.score = NOT_READ
    logits = reader.score(query, [(c.hit.chunk.title, c.text) for c in shortlist])
    best: dict[int, float] = {}
    for c, logit in zip(shortlist, logits.tolist()):
        c.score = logit - TYPE_PENALTY * c.features["type_mismatch"] - NAME_PENALTY * c.features["missing_name"]
        best[c.hit.chunk.rowid] = max(best.get(c.hit.chunk.rowid, NOT_READ), c.score)
    reranked = sorted(hits[:SENTENCE_POOL], key=lambda h: -best.get(h.chunk.rowid, NOT_READ))
    return reranked + hits[SENTENCE_POOL:], max(best.values(), default=-10.0)


def pick(found: list[Candidate], with_reader: bool) -> list[Candidate]:
    """Up to three sentences, most likely first: the best, and those close behind it. Headlines and
    captions (short, no full stop) help search but make poor answers; a sentence that only restates
    the question answers nothing."""
    usable = sorted((c for c in found if not c.features["restates"] and not _is_heading(c.text)), key=lambda c: -c.score)
    if not usable:
        return []
    margin, floor = (READER_MARGIN, READER_FLOOR) if with_reader else (SENTENCE_MARGIN, SENTENCE_FLOOR)
    best = usable[0]
    close = [c for c in usable[1:MAX_SENTENCES] if c.score >= max(best.score - margin, floor)]
    return [best] + [c for c in close if c.hit.chunk.article_id == best.hit.chunk.article_id or c.score >= OTHER_ARTICLE_FLOOR]


def _is_heading(sentence: str) -> bool:
    return not FULL_STOP.search(sentence) and len(sentence.split()) <= HEADING_MAX_WORDS
