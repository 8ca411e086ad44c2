"""A folder of .txt/.md articles -> Article records, skipping unusable files with a reason."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
SUFFIXES = {".txt", ".md"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Article:
    id: str  # path relative to the corpus folder, with forward slashes
    title: str
    text: str  # the whole file as decoded; every offset points into this
    body_start: int  # offset where the body starts (just after the title line)
    hash: str


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


def parse_article(article_id: str, text: str) -> Article | None:
    """Title = first non-empty line; body = the rest. None when there is no body text."""
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            title = line.strip()
            body_start = pos + len(line)
            break
        pos += len(line)
    else:
        return None
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Article(article_id, title, text, body_start, digest)


def read_article(path: Path, article_id: str) -> Article | Skipped:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return Skipped(article_id, f"larger than {MAX_BYTES // (1024 * 1024)} MB ({size:,} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(article_id, f"unreadable ({exc.strerror or exc})")
    if b"\x00" in data:
        return Skipped(article_id, "binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return Skipped(article_id, f"not UTF-8 (bad byte at offset {exc.start}); re-save it as UTF-8")
    article = parse_article(article_id, text)
    if article is None:
        return Skipped(article_id, "empty (no text)")
    if not article.text[article.body_start :].strip():
        return Skipped(article_id, "has a title line but no body")
    return article


def load_corpus(folder: str | Path) -> tuple[list[Article], list[Skipped]]:
    """Every usable article under `folder` (recursively), sorted by id, plus the skipped files."""
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder {root} does not exist; pass --corpus DIR or set QA_CORPUS")
    articles: list[Article] = []
    skipped: list[Skipped] = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() not in SUFFIXES or not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        result = read_article(path, path.relative_to(root).as_posix())
        if isinstance(result, Skipped):
            log.warning("skipping %s: %s", result.path, result.reason)
            skipped.append(result)
        else:
            articles.append(result)
    return articles, skipped
