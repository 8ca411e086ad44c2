"""What both front ends do before the first question: bring the index up to date, then open it."""

from __future__ import annotations

import logging
import sys

from pathlib import Path

from retrieval.answer import Answerer
from retrieval.backends import Location, as_location, open_index
from retrieval.index import export_query_models, update_index

log = logging.getLogger(__name__)


def add_corpus_options(parser) -> None:
    from retrieval import backends, settings

    parser.add_argument("--corpus", default=settings.corpus_dir(), help="folder of .txt/.md articles (default: %(default)s, env QA_CORPUS)")
    backends.add_options(parser)
    parser.add_argument("--no-update", action="store_true", help="use the index as it is; do not re-scan the corpus")


def prepare(corpus: str, index: str | Path | Location, update: bool = True, progress: bool | None = None) -> Answerer:
    """Updates the index from the corpus (a no-op when nothing changed) and returns an Answerer.

    Raises IndexProblem or FileNotFoundError with a message that says how to fix things.
    """
    from embeddings import query_encoder

    logging.getLogger("faiss").setLevel(logging.WARNING)  # its loader logs CPU-feature probing at INFO
    where = as_location(index)
    if update:
        report = update_index(corpus, where, progress=sys.stderr.isatty() if progress is None else progress)
        log.info("index %s: %s", where, report.summary().replace("\n", "; "))
    else:
        open_index(where).close()  # a missing index or server is reported before the one-off export below
        export_query_models(where.folder)  # a read-only replica still answers without torch
    return Answerer.open(where, encoder=query_encoder(where.folder))
