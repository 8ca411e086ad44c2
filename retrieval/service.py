"""The one object both front ends hold: it keeps the index current, answers, and shows passages.

Built from `Settings`, it updates (or just opens) the index, owns the answerer, and is the only way
the REPL and the Telegram bot reach the index: they never open storage or an encoder themselves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from retrieval import backends
from retrieval.answer import Answer, Answerer
from retrieval.conversation import Conversation
from retrieval.index import export_query_models, update_index
from retrieval.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    """A whole indexed passage, as a source button shows it."""

    article: str
    title: str
    text: str
    start: int  # offset of the passage in its article


@dataclass(frozen=True)
class Stats:
    articles: int
    passages: int


class Service:
    def __init__(self, settings: Settings, answerer: Answerer):
        self.settings = settings
        self.answerer = answerer

    @classmethod
    def start(cls, settings: Settings, update: bool = True, progress: bool = False) -> Service:
        """Brings the index up to date with the corpus (a no-op when nothing changed), then opens it.
        Without the corpus folder but with an index, it answers from the index as it is.

        Raises SetupError (IndexProblem included) with a message that says how to fix things.
        """
        where = backends.location(settings)
        if update and not settings.corpus.is_dir() and where.may_hold_index:
            log.warning("corpus folder %s not found; answering from the existing index %s", settings.corpus, where)
            update = False
        if update:
            report = update_index(settings.corpus, where, progress=progress, device=settings.device)
            log.info("index %s: %s", where, report.summary().replace("\n", "; "))
        else:
            backends.open_index(where).close()  # a missing index or server is reported before the one-off export
            export_query_models(where.folder)  # a read-only replica still answers without torch
        return cls(settings, Answerer.open(where, settings))

    def ask(self, question: str, conversation: Conversation | None = None) -> Answer:
        return self.answerer.ask(question, conversation)

    def passage(self, chunk_id: str, start: int, end: int) -> Passage | None:
        """The passage a citation quoted from, or None when it changed since (the quote no longer inside it)."""
        chunk = self.answerer.index.chunk_by_id(chunk_id)
        if chunk is None or not chunk.start <= start < end <= chunk.end:
            return None
        return Passage(chunk.article_id, chunk.title, chunk.text, chunk.start)

    def stats(self) -> Stats:
        counts = self.answerer.index.counts()
        return Stats(counts["articles"], counts["chunks"])

    def close(self) -> None:
        self.answerer.index.close()
