"""Answers and passages as Telegram HTML, cut into messages Telegram accepts.

Rendering only: nothing here answers anything. Every piece of article or user text is escaped, and
long HTML is split at paragraph, line, sentence or word boundaries (never inside a tag or an
entity) so that no message passes Telegram's 4,096 characters, which it counts after entity parsing
and in UTF-16 code units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape, unescape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

LIMIT = 4096
BUTTON_CHARS = 40

# A tag, one of the entities Telegram decodes, or one character. Any other `&` Telegram shows as is.
ATOM = re.compile(r"<[^>]*>|&(?:#[0-9]+|#x[0-9a-fA-F]+|lt|gt|amp|quot);|.", re.S)
SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*$")


@dataclass(frozen=True)
class SourceRef:
    """What a source button carries: citation number, chunk id and the quote's article offsets."""

    n: int
    chunk_id: str
    start: int
    end: int

    def data(self) -> str:
        return f"src:{self.n}:{self.chunk_id}:{self.start}:{self.end}"  # under 64 bytes: 16-hex ids

    @classmethod
    def parse(cls, data: str) -> SourceRef | None:
        """None for anything that is not a well-formed source reference (buttons can be forged)."""
        match = re.fullmatch(r"src:(\d{1,3}):([0-9a-f]{16}):(\d{1,9}):(\d{1,9})", data or "")
        if not match:
            return None
        n, chunk_id, start, end = match.groups()
        return cls(int(n), chunk_id, int(start), int(end))


def render_answer(answer) -> str:
    """The answer text with its [n] markers, then one line per source: [n] and the article title."""
    body = escape(answer.text)
    if not answer.citations:
        return body
    return f"{body}\n\n{render_sources(answer.citations)}"


def render_sources(citations) -> str:
    """[n], the title (a link to the article when its URL is known) and its date when known."""
    return "<b>Sources</b>\n" + "\n".join(_source_line(c) for c in citations)


def _source_line(c) -> str:
    title = f"<i>{escape(c.title)}</i>"
    if c.url and c.url.startswith(("http://", "https://")):
        title = f'<a href="{escape(c.url, quote=True)}">{title}</a>'
    details = "".join(f", {part}" for part in (c.date and escape(c.date), c.page and f"p. {c.page}") if part)
    return f"[{c.n}] {title}{details}"


def source_keyboard(citations) -> InlineKeyboardMarkup | None:
    """One button per cited source; pressing it shows the whole passage."""
    if not citations:
        return None
    buttons = [
        [InlineKeyboardButton(_shorten(f"[{c.n}] {c.title}"), callback_data=SourceRef(c.n, c.chunk_id, c.start, c.end).data())]
        for c in citations
    ]
    return InlineKeyboardMarkup(buttons)


def render_passage(n: int, title: str, passage: str, quote_start: int, quote_end: int) -> str:
    """The whole passage under its title, the quoted sentence in bold (offsets into `passage`)."""
    before, quote, after = passage[:quote_start], passage[quote_start:quote_end], passage[quote_end:]
    return f"[{n}] <i>{escape(title)}</i>\n\n{escape(before)}<b>{escape(quote)}</b>{escape(after)}"


def _shorten(label: str) -> str:
    label = " ".join(label.split())
    return label if len(label) <= BUTTON_CHARS else label[: BUTTON_CHARS - 1].rstrip() + "…"


def _is_tag(atom: str) -> bool:
    return atom.startswith("<") and len(atom) > 1


def _weight(atom: str) -> int:
    """Length as Telegram counts it: text after entity parsing, in UTF-16 code units."""
    if _is_tag(atom):
        return 0
    text = unescape(atom) if atom.startswith("&") else atom
    return len(text.encode("utf-16-le")) // 2


def split_html(html: str, limit: int = LIMIT) -> list[str]:
    """Pieces of at most `limit` visible characters; tags open at a cut are closed and reopened."""
    atoms = ATOM.findall(html)
    pieces, stack, i = [], [], 0  # stack: (name, opening tag) open at atom i
    while i < len(atoms):
        cut = _cut(atoms, i, limit)
        reopen = "".join(tag for _, tag in stack)
        for atom in atoms[i:cut]:
            _track(stack, atom)
        close = "".join(f"</{name}>" for name, _ in reversed(stack))
        piece = reopen + "".join(atoms[i:cut]).strip() + close
        if "".join(a for a in atoms[i:cut] if not _is_tag(a)).strip():
            pieces.append(piece)
        i = cut
        while i < len(atoms) and atoms[i].isspace():
            i += 1
    return pieces


def _track(stack: list[tuple[str, str]], atom: str) -> None:
    if not _is_tag(atom):
        return
    if atom.startswith("</"):
        stack.pop()
    else:
        stack.append((re.match(r"<([\w-]+)", atom).group(1), atom))


def _cut(atoms: list[str], i: int, limit: int) -> int:
    """Where the piece starting at atom i ends: the best boundary within the limit."""
    best: dict[str, int] = {}
    used, k = 0, i
    while k < len(atoms):
        used += _weight(atoms[k])
        if used > limit:
            break
        k += 1
        kind = _boundary(atoms, k)
        if kind:
            best[kind] = k
    if k == len(atoms):
        return k
    for kind in ("paragraph", "line", "sentence", "word"):
        if kind in best and _visible(atoms, i, best[kind]) >= limit // 2:
            return _before_opening_tags(atoms, i, best[kind])
    return _before_opening_tags(atoms, i, max(k, i + 1))


def _boundary(atoms: list[str], k: int) -> str | None:
    """The kind of break just before atom k (after whitespace), if any."""
    last = atoms[k - 1]
    if last == "\n":
        return "paragraph" if k >= 2 and atoms[k - 2] == "\n" else "line"
    if last.isspace():
        before = unescape("".join(a for a in atoms[max(0, k - 6) : k - 1] if not _is_tag(a)))
        return "sentence" if SENTENCE_END.search(before) else "word"
    return None


def _visible(atoms: list[str], i: int, k: int) -> int:
    return sum(_weight(a) for a in atoms[i:k])


def _before_opening_tags(atoms: list[str], i: int, k: int) -> int:
    """An opening tag right before a cut belongs to the next piece, not as an empty pair in this one."""
    while k - 1 > i and _is_tag(atoms[k - 1]) and not atoms[k - 1].startswith("</"):
        k -= 1
    return k
