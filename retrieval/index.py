"""Builds or updates an index folder from a corpus folder; `python -m retrieval.index --help`.

Incremental by content: an unchanged article costs nothing, and every text is embedded at most
once (vectors are cached under a hash of model + text, committed batch by batch, so even a
killed build keeps what it embedded).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from retrieval import backends, settings
from retrieval.backends import IndexProblem, Location, Writer
from retrieval.backends.base import chunk_rows
from retrieval.chunking import chunk_article
from retrieval.cli import run, setup_logging
from retrieval.corpus import Skipped, load_corpus

EMBED_BATCH = 256
LARGE_ARTICLE = 1_000_000  # characters: such an article gets a log line of its own while chunking

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    articles: int = 0
    chunks: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    embedded: int = 0
    reused: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"{self.articles} articles, {self.chunks} chunks "
            f"({self.added} added, {self.changed} changed, {self.removed} removed); "
            f"embedded {self.embedded} texts now, reused {self.reused}; {self.seconds:.1f} s",
        ]
        for item in self.skipped:
            lines.append(f"skipped {item.path}: {item.reason}")
        return "\n".join(lines)


def _embed_missing(writer: Writer, encoder, texts: dict[str, str], progress: bool) -> int:
    """Embeds the texts whose keys are not cached yet; returns how many it embedded."""
    missing = sorted(writer.missing_keys(list(texts)), key=lambda k: len(texts[k]))
    if not missing:
        return 0
    from tqdm import tqdm

    log.info("embedding %d new texts with %s", len(missing), encoder.name)
    with tqdm(total=len(missing), desc="embedding", unit="text", disable=not progress) as bar:
        for i in range(0, len(missing), EMBED_BATCH):
            batch = missing[i : i + EMBED_BATCH]
            writer.save_vectors(batch, encoder.encode([texts[k] for k in batch]))  # a killed build keeps each batch
            bar.update(len(batch))
    return len(missing)


def _chunk_all(articles: list, model: str, progress: bool) -> list:
    """Chunk rows of every article, with a bar per article and a line for each large one."""
    from tqdm import tqdm

    rows = []
    for article in tqdm(articles, desc="chunking", unit="article", disable=not progress or len(articles) < 2):
        if len(article.text) >= LARGE_ARTICLE:
            log.info("chunking %s (%.1f MB)", article.id, len(article.text) / 1e6)
        rows.extend(chunk_rows(article, chunk_article(article), model))
    return rows


def build(
    corpus: str | Path,
    index: str | Path | Location,
    encoder=None,
    progress: bool = False,
    rebuild: bool = False,
    device: str = "auto",
) -> BuildReport:
    """Brings the index at `index` (a folder, or a Location) up to date with `corpus`. The model loads
    (on `device`) only if there is something to embed and no encoder was given."""
    started = time.perf_counter()
    if encoder is None:
        from embeddings import Encoder

        encoder = Encoder(device=device)
    articles, skipped = load_corpus(corpus)
    writer = backends.open_writer(index, rebuild=rebuild)
    try:
        if writer.model not in (None, encoder.name) and not rebuild:
            raise IndexProblem(
                f"index {index} was built with {writer.model!r}, not {encoder.name!r}; rebuild it with: python -m retrieval.index --corpus {corpus} --index {index} --rebuild"
            )
        stored = writer.stored_hashes()
        current = {a.id for a in articles}
        # A rebuild rewrites every article in one swap: a running bot sees the old index or the new one.
        changed = [a for a in articles if rebuild or stored.get(a.id) != a.hash]
        removed = [aid for aid in stored if aid not in current]
        report = BuildReport(
            articles=len(articles),
            added=sum(a.id not in stored for a in articles),
            changed=sum(a.id in stored for a in changed),
            removed=len(removed),
            skipped=skipped,
        )
        if changed or removed or not writer.is_complete():
            rows = _chunk_all(changed, encoder.name, progress)
            texts = {key: text for row in rows for key, text in row.texts().items()}
            report.embedded = _embed_missing(writer, encoder, texts, progress)
            report.reused = len(texts) - report.embedded
            writer.commit(changed, removed, rows, encoder.name, encoder.dim, str(Path(corpus).resolve()))
        report.chunks = writer.chunk_count()
    finally:
        writer.close()
    report.seconds = time.perf_counter() - started
    return report


def update_index(
    corpus: str | Path, index: str | Path | Location, progress: bool = False, rebuild: bool = False, device: str = "auto"
) -> BuildReport:
    """What the CLI and the bots run: build, then make sure the torch-free encoder is there.

    Once exported, the ONNX encoder also embeds later updates: 2.2x the texts/s of
    sentence-transformers here, same vectors (bench/cold_start.py), and no torch import.
    """
    folder = backends.as_location(index).folder
    report = build(corpus, index, encoder=exported_encoder(folder), progress=progress, rebuild=rebuild, device=device)
    export_query_models(folder)
    return report


def exported_encoder(folder: Path, threads: int = 2):
    """The ONNX encoder exported into the index folder, to embed with; None (saying why) when it will not load."""
    from embeddings import OnnxEncoder, onnx_path

    if not onnx_path(folder).exists():
        return None
    try:
        return OnnxEncoder(onnx_path(folder), threads=threads)
    except Exception as exc:  # a missing onnxruntime or a damaged file: torch still works
        log.warning("indexing with sentence-transformers: the ONNX encoder did not load (%s)", exc)
        return None


def export_query_models(folder: Path) -> None:
    """Exports the query encoder and the answer reader to ONNX once per folder and weights version
    (only then importing torch); a failure only costs speed or accuracy, and says so."""
    from embeddings import ensure_onnx
    from retrieval import reader

    try:
        ensure_onnx(folder)
    except Exception as exc:  # answering still works, on sentence-transformers
        log.warning("could not export the ONNX query encoder (%s); answers will use sentence-transformers", exc)
    try:
        reader.ensure_onnx(folder)
    except Exception as exc:  # answering still works, with the fitted sentence model
        log.warning("could not export the answer reader (%s); answers will choose sentences without it", exc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.index",
        description="Build or update the search index for a folder of articles (.txt .md .html .htm .html.gz .pdf .docx). "
        "Unchanged articles are skipped; only new or edited text is embedded.",
    )
    settings.add_options(parser)
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="re-read and rewrite every article in one swap (a corrupt database is started afresh); embeddings already made for the same text are reused",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, warnings only")
    args = parser.parse_args(argv)
    setup_logging(logging.WARNING if args.quiet else logging.INFO)
    return run(lambda: _index(args))


def _index(args) -> int:
    config = settings.from_args(args)
    progress = not args.quiet and sys.stderr.isatty()
    report = update_index(config.corpus, backends.location(config), progress=progress, rebuild=args.rebuild, device=config.device)
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
