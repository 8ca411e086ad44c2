"""Word-level helpers shared by lexical search, answer scoring and follow-ups."""

from __future__ import annotations

import re
from functools import lru_cache

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell know please""".split()
)


def query_terms(text: str) -> list[str]:
    """Lower-cased content words, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word in re.findall(r"\w+", text.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


_SUFFIXES = ("ingly", "edly", "ing", "ed", "es", "ly", "s")


def stem(word: str) -> str:
    """A deliberately crude stemmer: enough to match "posted" with "post" inside a sentence."""
    word = word.lower()
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@lru_cache(maxsize=65536)
def stems(text: str) -> frozenset[str]:
    """Cached: the same candidate sentences come back question after question."""
    return frozenset(stem(w) for w in re.findall(r"\w+", text.lower()))
