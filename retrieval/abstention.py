"""Abstention: how sure retrieval is that the articles answer, as one calibrated number."""

from __future__ import annotations

import math

from retrieval.search import Hit, term_coverage

SENTENCE_POOL = 3  # passages whose sentences compete for the answer (and whose signals are read here)
DEFAULT_THRESHOLD = 0.5

# Without the reader: logistic over `signals`, fitted on the training half of the SQuAD v1.1 holdout
# (`python -m retrieval.eval squad --holdout --split train --limit 3000 --no-reader --fit`;
# docs/fit-abstention-no-reader-train.json). The threshold is QA_ABSTAIN_THRESHOLD.
BIAS = -15.262
WEIGHTS = {"dense": 9.5, "sentence": 13.449, "coverage": 4.461, "passage_coverage": 0.56, "lexical": 2.09}

# With the learned reader (`retrieval.reader`), its best logit leads: a logistic over it and the
# retrieval signals, fitted on the training half of the SQuAD 2.0 holdout, unanswerable questions
# included (`python -m retrieval.eval squad --data dev-v2.0… --holdout --split train --limit 2000
# --fit`; docs/fit-abstention-train.json). The fitted bias (-2.593) is shifted so that the default
# threshold 0.5 falsely declines 4 % of that half's answerable questions (its output 0.1137 there).
# A fit on the SQuAD v1.1 holdout alone declines more out of corpus but also short answerable
# questions ("How many people were killed?"), so it is not used (docs/fit-abstention-reader-v1.1-train.json).
READER_BIAS = -0.540
READER_WEIGHTS = {"reader": 0.702, "dense": 3.933, "sentence": 0.974, "coverage": -0.808, "passage_coverage": 1.391, "lexical": -0.348}


def signals(hits: list[Hit], terms: list[str], idf: dict[str, float]) -> dict[str, float]:
    """How close the best passages are, and how much of the question they cover."""
    top = hits[:SENTENCE_POOL]
    passages = " ".join(h.chunk.title + " " + h.chunk.text for h in top)
    return {
        "dense": max((h.dense for h in top), default=0.0),
        "sentence": max((h.sentence for h in top), default=0.0),
        "coverage": max((h.coverage for h in top), default=0.0),
        "passage_coverage": term_coverage(terms, idf, passages),
        "lexical": max((h.lexical for h in top), default=0.0) / (sum(idf.values()) or 1.0),
    }


def confidence(signals: dict[str, float]) -> float:
    """The reader's model when the reader has read (its logit is among the signals), else the fallback."""
    bias, weights = (READER_BIAS, READER_WEIGHTS) if "reader" in signals else (BIAS, WEIGHTS)
    return _sigmoid(bias + sum(w * signals[name] for name, w in weights.items()))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-max(-50.0, min(50.0, x))))
