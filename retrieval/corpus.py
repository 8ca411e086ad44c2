"""A folder of articles (text, Markdown, web pages, PDFs, Word files) -> Article records, skipping
unusable files with a reason.

Text and Markdown files are read whole, so offsets point into the file itself; other formats are
reduced to their article text by `retrieval.extract`, and offsets point into that extracted text.

Only regular files whose real path lies inside the folder are read: a symlink that points outside
(to /etc/passwd, say) is skipped with a warning, and one that points inside is read once.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from retrieval import extract
from retrieval.errors import SetupError

MAX_BYTES = extract.MAX_BYTES
EXTRACTED_KEPT = 10_000  # files remembered by content hash, so an update re-reads the folder but re-parses only what changed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Article:
    id: str  # path relative to the corpus folder, with forward slashes
    title: str
    text: str  # the whole file as decoded (extracted, for web pages, PDFs, Word files); every offset points into this
    body_start: int  # offset where the body starts (just after the title line)
    hash: str
    date: str | None = None  # publication date (YYYY-MM-DD) when the file says
    url: str | None = None  # where it was published, when the file says
    pages: tuple[int, ...] = ()  # PDFs: the offset where each page starts


@dataclass(frozen=True)
class Source:
    """Where an article came from, for citations: its date, URL and page starts, when known."""

    date: str | None = None
    url: str | None = None
    pages: tuple[int, ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The 1-based page holding `offset`, for PDFs."""
        return extract.page_of(self.pages, offset)


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


def inside(root: Path, path: Path) -> Path | None:
    """The real path of `path` when it is a regular file inside `root` (itself resolved); else None."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link or a loop
        return None
    return real if real.is_relative_to(root) and real.is_file() else None


def read_article(path: Path, article_id: str) -> Article | Skipped:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            return Skipped(article_id, f"larger than {MAX_BYTES // (1024 * 1024)} MB ({size:,} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        return Skipped(article_id, f"unreadable ({exc.strerror or exc})")
    try:
        if extract.format_of(path.name) in ("text", "markdown"):
            article = parse_article(article_id, extract.decode(data))
        else:
            article = extracted_article(article_id, _extract(path.name, data))
    except extract.ExtractionError as exc:
        return Skipped(article_id, str(exc))
    except Exception as exc:  # a parser's own failure on a hostile file: skip it, never stop the build
        log.debug("extracting %s failed", article_id, exc_info=True)
        return Skipped(article_id, f"could not be read ({type(exc).__name__}: {exc})")
    if article is None:
        return Skipped(article_id, "empty (no text)")
    if not article.text[article.body_start :].strip():
        return Skipped(article_id, "has a title line but no body")
    return article


_extracted: dict[tuple[str | None, str], extract.Extracted] = {}


def _extract(name: str, data: bytes) -> extract.Extracted:
    """`extract.extract`, remembered by format and content hash: a live update scans every file, and
    parsing a web page costs about 25 ms where hashing it costs well under one."""
    key = (extract.format_of(name), hashlib.sha256(data).hexdigest())
    item = _extracted.get(key)
    if item is None:
        item = extract.extract(name, data)
        if len(_extracted) >= EXTRACTED_KEPT:
            _extracted.pop(next(iter(_extracted)))  # the oldest
        _extracted[key] = item
    return item


def extracted_article(article_id: str, item: extract.Extracted) -> Article:
    """A page, PDF or Word file: the extracted body is the text; its title and metadata join the hash,
    so a corrected title or date re-indexes the article."""
    title = item.title or Path(article_id).stem
    digest = hashlib.sha256("\0".join([title, item.date or "", item.url or "", item.text]).encode("utf-8")).hexdigest()
    return Article(article_id, title, item.text, 0, digest, item.date, item.url, item.pages)


def load_corpus(folder: str | Path) -> tuple[list[Article], list[Skipped]]:
    """Every usable article under `folder` (recursively), sorted by id, plus the skipped files."""
    root = Path(folder)
    if not root.is_dir():
        raise SetupError(f"corpus folder {root} does not exist; pass --corpus DIR or set QA_CORPUS")
    real_root = root.resolve()
    articles: list[Article] = []
    skipped: list[Skipped] = []
    seen: dict[Path, str] = {}
    for path in sorted(root.rglob("*"), key=lambda p: (p.is_symlink(), p)):  # real files before links to them
        if extract.format_of(path.name) is None or not (path.is_file() or path.is_symlink()):
            continue
        article_id = path.relative_to(root).as_posix()
        if any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        real = inside(real_root, path)
        if any(not c.isprintable() for c in article_id):
            result = Skipped(article_id, "a file name with control characters (a newline?); rename it")
        elif real is None:
            result = Skipped(article_id, "a link to something outside the corpus folder (or not a regular file); not read")
        elif real in seen:
            log.info("skipping %s: the same file as %s", article_id, seen[real])
            continue
        else:
            seen[real] = article_id
            result = read_article(real, article_id)
        if isinstance(result, Skipped):
            log.warning("skipping %s: %s", result.path, result.reason)
            skipped.append(result)
        else:
            articles.append(result)
    articles.sort(key=lambda a: a.id)
    return articles, skipped
