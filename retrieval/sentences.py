"""A sentence splitter for news text that returns character offsets, not copies.

Rule-based on purpose: offline, fast, and every span maps back to the exact source text.
"""

from __future__ import annotations

import re

ABBREVIATIONS = {
    "mr",
    "mrs",
    "ms",
    "dr",
    "prof",
    "sr",
    "jr",
    "st",
    "mt",
    "ft",
    "gen",
    "gov",
    "sen",
    "rep",
    "rev",
    "lt",
    "col",
    "capt",
    "sgt",
    "cpl",
    "adm",
    "maj",
    "pres",
    "supt",
    "det",
    "hon",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thur",
    "thurs",
    "fri",
    "sat",
    "sun",
    "vs",
    "v",
    "inc",
    "corp",
    "ltd",
    "co",
    "bros",
    "dept",
    "est",
    "fig",
    "approx",
    "al",
    "cf",
    "ca",
    "vol",
    "pp",
    "ed",
    "eds",
    "op",
    "univ",
    "assn",
    "ave",
    "blvd",
    "rd",
}
NUMBER_ABBREVIATIONS = {"no", "nos", "art", "p"}  # only before a number: "No. 5", but "said no. Then"
# Words that make "U.S. The ..." a sentence break although "U.S." is an abbreviation.
SENTENCE_STARTERS = {
    "the",
    "a",
    "an",
    "it",
    "he",
    "she",
    "they",
    "we",
    "i",
    "but",
    "and",
    "in",
    "on",
    "this",
    "that",
    "these",
    "those",
    "there",
    "however",
    "meanwhile",
    "his",
    "her",
    "their",
    "its",
    "our",
    "after",
    "when",
    "while",
    "if",
    "as",
    "at",
    "for",
    "some",
    "many",
    "most",
    "according",
}
MAX_SENTENCE_WORDS = 120

_TERMINATOR = re.compile(r"(?:\.{3}|…|[.!?])+[\"'”’)\]]*(?=\s)")
_PARAGRAPH = re.compile(r"\n[ \t]*\n\s*")
_LINE = re.compile(r"\n")
_WORD_BEFORE = re.compile(r"([\w.'’-]+)$")
WORD_LOOKBACK = 64  # how far back a word before a full stop is looked for: keeps splitting linear


def _is_break(text: str, term_start: int, term_end: int, next_start: int) -> bool:
    nxt = text[next_start : next_start + 1]
    if not nxt:
        return True
    mark = text[term_start:term_end].rstrip("\"'”’)]")
    first_alpha = next((c for c in text[next_start : next_start + 3] if c.isalnum()), "")
    if nxt.islower() or (first_alpha and first_alpha.islower()):
        return False  # "Why?" she asked / ellipsis mid-sentence / "e.g. this"
    if mark != ".":
        return True  # ! ? ... followed by a capital
    match = _WORD_BEFORE.search(text, max(0, term_start - WORD_LOOKBACK), term_start)
    word = match.group(1) if match else ""
    bare = word.lower().strip("'’-")
    if len(word) == 1 and word.isupper():
        return False  # an initial: "J. Smith"
    if bare in ABBREVIATIONS or (bare in NUMBER_ABBREVIATIONS and nxt.isdigit()):
        return False
    if "." in word:  # a dotted acronym such as U.S. or a.m.
        next_word = re.match(r"[\"'“‘(]*(\w+)", text[next_start : next_start + 30])
        return bool(next_word) and next_word.group(1).lower() in SENTENCE_STARTERS
    return True


def _split_line(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    cursor = start
    for term in _TERMINATOR.finditer(text, start, end):
        next_start = term.end()
        while next_start < end and text[next_start].isspace():
            next_start += 1
        if next_start >= end:
            break
        if _is_break(text, term.start(), term.end(), next_start):
            spans.append((cursor, term.end()))
            cursor = next_start
    spans.append((cursor, end))
    return spans


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Paragraphs and lines that end without punctuation (headlines, captions) are hard breaks."""
    blocks = []
    cursor = start
    for brk in _LINE.finditer(text, start, end):
        after = brk.end()
        while after < end and text[after] in " \t":
            after += 1
        continues = after < end and (text[after].islower() or text[after] in ",;:)")
        if not continues:
            blocks.append((cursor, brk.start()))
            cursor = brk.end()
    blocks.append((cursor, end))
    return blocks


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _cap_length(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut run-on "sentences" (no punctuation for pages) at word boundaries."""
    words = list(re.finditer(r"\S+", text[start:end]))
    if len(words) <= MAX_SENTENCE_WORDS:
        return [(start, end)]
    pieces = []
    for i in range(0, len(words), MAX_SENTENCE_WORDS):
        group = words[i : i + MAX_SENTENCE_WORDS]
        pieces.append((start + group[0].start(), start + group[-1].end()))
    return pieces


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of each sentence of text[start:end], whitespace trimmed."""
    end = len(text) if end is None else end
    spans = []
    for block_start, block_end in _blocks(text, start, end):
        for s, e in _split_line(text, block_start, block_end):
            s, e = _strip(text, s, e)
            if e > s and any(c.isalnum() for c in text[s:e]):
                spans.extend(_cap_length(text, s, e))
    return spans


def paragraph_breaks(text: str, start: int, end: int) -> set[int]:
    """Offsets where a blank line ends: chunks prefer to end there."""
    return {m.end() for m in _PARAGRAPH.finditer(text, start, end)}
