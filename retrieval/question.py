"""Input checks: what a message must be before it is searched for, and the replies when it is not."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

from retrieval.smalltalk import small_talk_reply

MAX_QUESTION_CHARS = 2000
EMPTY_HINT = "Type a question about the articles, for example: “Who is mentioned in the articles?”"
NO_WORDS_HINT = "I can only answer questions written in words. What would you like to know about the articles?"
TOO_LONG = f"That message is too long ({{n:,}} characters). Please ask one question in under {MAX_QUESTION_CHARS:,} characters."
TAG = re.compile(r"</?[a-zA-Z][^<>]{0,200}>")


@dataclass(frozen=True)
class Reply:
    """What to say instead of searching."""

    kind: Literal["small_talk", "hint", "too_long"]
    text: str


def clean_question(text: str) -> str:
    """Control characters become spaces; tags and entities pasted from the web are dropped.

    Nothing is ever interpreted: this only keeps `<b>` and `&amp;` from being searched for.
    """
    # Lone surrogates (Cs) come from broken clients and cannot even be encoded: they become spaces too.
    chars = [" " if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") and c != "\u200d" else c for c in text]
    text = html.unescape(TAG.sub(" ", "".join(chars)))
    return " ".join(text.split())


def check(raw: str) -> str | Reply:
    """The question to search for, or the reply that replaces searching (too long, empty, a greeting)."""
    if len(raw) > MAX_QUESTION_CHARS:
        return Reply("too_long", TOO_LONG.format(n=len(raw)))
    question = clean_question(raw)
    if not question:
        return Reply("hint", EMPTY_HINT)
    small_talk = small_talk_reply(question)
    if small_talk:
        return Reply("small_talk", small_talk)
    if not any(c.isalnum() for c in question):
        return Reply("hint", NO_WORDS_HINT)
    return question
