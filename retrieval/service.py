"""The one object both front ends hold: it keeps the index current, answers, and shows passages.

Built from `Settings`, it updates (or just opens) the index, owns the answerer, and is the only way
the REPL and the Telegram bot reach the index: they never open storage or an encoder themselves.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from embeddings import Encoder
from retrieval import backends, extract, intake
from retrieval.answer import Answer, Answerer
from retrieval.conversation import Conversation
from retrieval.index import BuildReport, build, export_query_models, exported_encoder, update_index
from retrieval.intake import Refused
from retrieval.settings import Settings

WATCH_DEBOUNCE_MS = 300  # a burst of writes (an editor's save, a copied folder) becomes one update
UPDATE_THREADS = 1  # updates while answering embed on one core, leaving the rest to the questions
__all__ = ["Added", "Passage", "Refused", "Service", "Stats"]

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


@dataclass(frozen=True)
class Added:
    article: str  # its file name in the corpus folder
    title: str
    passages: int


class Service:
    def __init__(self, settings: Settings, answerer: Answerer, encoder=None):
        self.settings = settings
        self.answerer = answerer
        self.encoder = encoder  # what updates embed with; None until the first: the index's exported ONNX encoder
        self._updating = threading.Lock()  # one update at a time: the watcher's, an upload's, a removal's
        self._stop = threading.Event()

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

    def articles(self) -> list[tuple[str, str]]:
        """(file name, title) of every indexed article, sorted by file name."""
        return self.answerer.index.article_titles()

    # --- changing the corpus while answering -------------------------------------------------------

    def update(self) -> BuildReport | None:
        """Applies the corpus folder's changes to the index; a failure is logged and the index as it was
        keeps answering (every update is one swap)."""
        with self._updating:
            try:
                report = build(self.settings.corpus, backends.location(self.settings), encoder=self._encoder())
            except Exception as exc:
                log.error("updating the index from %s failed; still answering from the previous index: %s", self.settings.corpus, exc)
                return None
        changed = report.added or report.changed or report.removed or report.skipped
        log.log(logging.INFO if changed else logging.DEBUG, "index updated: %s", report.summary().replace("\n", "; "))
        return report

    def _encoder(self):
        """Loaded once, for every update: the exported ONNX encoder on one core, else sentence-transformers."""
        if self.encoder is None:
            self.encoder = exported_encoder(self.settings.index, threads=UPDATE_THREADS) or Encoder(device=self.settings.device)
        return self.encoder

    def watch(self) -> threading.Thread | None:
        """Watches the corpus folder in a background thread and updates the index after each burst of
        changes; None (saying why) when there is no folder to watch."""
        if not self.settings.corpus.is_dir():
            log.warning("not watching %s: no such folder", self.settings.corpus)
            return None
        thread = threading.Thread(target=self._watch, name="corpus-watch", daemon=True)
        thread.start()
        return thread

    def _watch(self) -> None:
        from watchfiles import watch

        log.debug("watching %s for new, edited and deleted articles", self.settings.corpus)
        try:
            for changes in watch(self.settings.corpus, debounce=WATCH_DEBOUNCE_MS, stop_event=self._stop, raise_interrupt=False):
                if any(extract.format_of(path) for _, path in changes):
                    self.update()
        except Exception as exc:  # the folder went away, or the OS ran out of watches: answering goes on
            log.error("stopped watching %s (%s); restart to pick up new articles", self.settings.corpus, exc)

    def add(self, name: str, data: bytes) -> Added:
        """Saves a file into the corpus folder (after checking that it reads) and indexes it: one
        article's embeddings, not a rebuild. Raises Refused saying why."""
        path, item = intake.save(self.settings.corpus, name, data)
        if self.update() is None:
            raise Refused(f"{path.name} was saved, but indexing it failed (the log says why); the next update retries it")
        return Added(path.name, item.title or path.stem, self.answerer.index.passages_of(path.name))

    def add_url(self, url: str) -> Added:
        """Fetches a page (or a PDF, a Word file) and adds it as a file named after its URL."""
        return self.add(*intake.fetch_article(url))

    def remove(self, article: str) -> bool:
        """Deletes an article's file from the corpus and the index; False when there is no such article."""
        path = intake.find(self.settings.corpus, article)
        if path is None:
            return False
        path.unlink()
        self.update()
        return True

    def close(self) -> None:
        self._stop.set()
        self.answerer.index.close()
