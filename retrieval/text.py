"""Word-level helpers shared by lexical search, answer scoring and follow-ups.

Stemming is Snowball's English stemmer (PyStemmer), the stemmer behind PostgreSQL's `english`
configuration and close to SQLite's Porter tokenizer, so a word the index matched is a word the
answer scorer matches too.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

# After Snowball's English stop list (PostgreSQL's `english` drops the same words; PyStemmer ships stemmers,
# not stop lists), plus words that only frame a question ("tell me ...").
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from further had
    has have having he her here hers herself him himself his how i if in into is it its itself just
    me more most my myself no nor not now of off on once only or other our ours ourselves out over
    own same she should so some such than that the their theirs them themselves then there these
    they this those through to too under until up very was we were what when where which while who
    whom why will with would you your yours yourself yourselves tell know please""".split()
)
WORD = re.compile(r"\w+")
_STEMMER = Stemmer.Stemmer("english")


def query_terms(text: str) -> list[str]:
    """Lower-cased content words, in order, without duplicates."""
    seen: dict[str, None] = {}
    for word in WORD.findall(text.lower()):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)


def stem(word: str) -> str:
    return _STEMMER.stemWord(word.lower())


@lru_cache(maxsize=65536)
def stems(text: str) -> frozenset[str]:
    """Cached: the same candidate sentences come back question after question."""
    return frozenset(_STEMMER.stemWords(WORD.findall(text.lower())))
