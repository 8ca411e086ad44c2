"""Answer -> text for a terminal: colour when it is one, plain text when piped."""

from __future__ import annotations

import os
import textwrap

from retrieval.answer import Answer, Citation

QUOTE_MARKS = "“\"‘'«"
RESET, BOLD, DIM, UNDERLINE, YELLOW, CYAN = "\033[0m", "\033[1m", "\033[2m", "\033[4m", "\033[33m", "\033[36m"


class Style:
    def __init__(self, colour: bool):
        self.colour = colour and not os.environ.get("NO_COLOR")

    def __call__(self, text: str, *codes: str) -> str:
        return f"{''.join(codes)}{text}{RESET}" if self.colour and codes else text


def shown(text: str) -> str:
    """Text from the articles made safe for a terminal: whitespace collapsed, and control characters
    (escape codes in a title, a newline in a file name) shown as visible escapes, never obeyed."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in " ".join(text.split()))


def _wrap(text: str, indent: str = "", width: int = 100) -> str:
    return textwrap.fill(shown(text), width=width, initial_indent=indent, subsequent_indent=indent)


def render_answer(answer: Answer, style: Style) -> str:
    if answer.kind == "not_found":
        return style(_wrap(answer.text), YELLOW)
    if not answer.citations:
        return _wrap(answer.text)
    lines = [_wrap(answer.text), "", style("Sources:", BOLD)]
    for c in answer.citations:
        lines.append(f"  {style(f'[{c.n}]', BOLD, CYAN)} {shown(c.title)}{_dated(c)} {style(f'({shown(c.article)})', DIM)}")
        if c.url:
            lines.append(style(f"      {shown(c.url)}", DIM))
        quote = c.quote if c.quote[:1] in QUOTE_MARKS else f"“{c.quote}”"
        lines.append(_wrap(quote, indent="      "))
    return "\n".join(lines)


def _dated(c: Citation) -> str:
    """ ", 2024-03-15, p. 3" as far as the article says."""
    return "".join(f", {part}" for part in (c.date and shown(c.date), c.page and f"p. {c.page}") if part)


def render_passage(citation: Citation, style: Style) -> str:
    """The whole passage a quote came from, with the quote marked."""
    start = citation.start - citation.passage_start
    end = citation.end - citation.passage_start
    before, quote, after = citation.passage[:start], citation.passage[start:end], citation.passage[end:]
    header = f"{style(f'[{citation.n}]', BOLD, CYAN)} {shown(citation.title)}{_dated(citation)} {style(f'({shown(citation.article)}, characters {citation.start}-{citation.end})', DIM)}"
    body = shown(before) + " " + (style(shown(quote), BOLD, UNDERLINE) if style.colour else f"»{shown(quote)}«") + " " + shown(after)
    return f"{header}\n{textwrap.fill(body, width=100, initial_indent='    ', subsequent_indent='    ')}"


def render_sources(answer: Answer | None, style: Style) -> str:
    if answer is None or not answer.citations:
        return "No sources yet: ask a question first."
    return "\n\n".join(render_passage(c, style) for c in answer.citations)
