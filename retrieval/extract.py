"""One file (text, Markdown, HTML, PDF or Word) -> the title, metadata and body text the index reads."""

from __future__ import annotations

import argparse
import bisect
import codecs
import datetime as dt
import gzip
import io
import json
import logging
import re
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from retrieval.cli import setup_logging

if TYPE_CHECKING:
    from pypdf import DocumentInformation, PdfReader

# The parsers (trafilatura, pypdf, python-docx, charset-normalizer) are imported where they are used:
# a corpus of plain text files never pays for loading them.
SUFFIXES = (".txt", ".md", ".html", ".htm", ".html.gz", ".pdf", ".docx")  # what the corpus reads
MAX_BYTES = 20 * 1024 * 1024  # bigger files are refused (Telegram's own download limit is 20 MB)
MAX_PDF_PAGES = 2_000  # a hostile PDF can declare endless pages; text past this is not read
MAX_UNZIPPED = 200 * 1024 * 1024  # a .docx that claims more than this once unpacked is refused
MAX_RATIO, RATIO_FLOOR = 100, 10 * 1024 * 1024  # ...as is one whose big member packs unusually tight

FORMATS = {".txt": "text", ".md": "markdown", ".html": "html", ".htm": "html", ".html.gz": "html"}
FORMATS |= {".pdf": "pdf", ".docx": "docx"}
BOMS = (  # (mark, codec, name); UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\ufffd]")  # never in real text; \t \n \v \f \r are fine
FIRST_LINE = re.compile(r"^.*\S.*$", re.MULTILINE)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
HTML_OPTIONS = {"include_comments": False}  # trafilatura's, tuned in bench/html_extraction.py

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Extracted:
    file: str  # as given (a display name)
    format: str  # "text" | "markdown" | "html" | "pdf" | "docx"
    title: str | None
    author: str | None
    date: str | None  # ISO "YYYY-MM-DD" when known
    url: str | None
    text: str  # the body without the title; citation offsets point into this
    pages: tuple[int, ...] = ()  # PDF only: where each page starts in `text` (page n at index n - 1)

    def page_at(self, offset: int) -> int | None:
        """The 1-based page a citation offset falls on, so a PDF quote can say where to look."""
        return page_of(self.pages, offset) if 0 <= offset <= len(self.text) else None

    def as_json(self) -> dict[str, str | None]:
        keys = ("file", "format", "title", "author", "date", "url", "text")
        return {key: getattr(self, key) for key in keys}


def page_of(pages: tuple[int, ...], offset: int) -> int | None:
    """The 1-based page whose start is the last at or before `offset`; None without pages."""
    return bisect.bisect_right(pages, offset) if pages else None


class ExtractionError(ValueError):
    """Why a file yields no usable text, in plain words; the caller adds the file name."""


def format_of(name: str) -> str | None:
    lower = name.lower()
    for suffix in sorted(FORMATS, key=len, reverse=True):  # ".html.gz" before anything shorter
        if lower.endswith(suffix):
            return FORMATS[suffix]
    return None


def _supported(name: str) -> str:
    kind = format_of(name)
    if kind is None:
        raise ExtractionError(f"unsupported file type (supported: {', '.join(SUFFIXES)})")
    return kind


def extract(name: str, data: bytes) -> Extracted:
    """Pure (bytes in, never the filesystem), so the indexer, the bot and tests share one path."""
    kind = _supported(name)
    if len(data) > MAX_BYTES:
        raise ExtractionError(f"larger than {MAX_BYTES // (1024 * 1024)} MB ({len(data):,} bytes)")
    if kind in ("text", "markdown"):
        return _from_text(name, kind, data)
    if kind == "html":
        return _from_html(name, _gunzip(data) if name.lower().endswith(".gz") else data)
    if kind == "pdf":
        return _from_pdf(name, data)
    return _from_docx(name, data)


def extract_file(path: Path) -> Extracted:
    """Checks the type and size before reading, so a huge file costs a stat, not 20 MB of memory."""
    _supported(path.name)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise ExtractionError(f"larger than {MAX_BYTES // (1024 * 1024)} MB ({size:,} bytes)")
        data = path.read_bytes()
    except OSError as exc:
        raise ExtractionError(f"cannot read it ({exc.strerror or exc})") from None
    return extract(path.name, data)


# --- plain text and Markdown ---------------------------------------------------------------------


def decode(data: bytes) -> str:
    """A byte-order mark wins, then UTF-8, then charset-normalizer's best guess (cp1252, Latin-1 …)."""
    for bom, codec, label in BOMS:
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError:
                raise ExtractionError(f"{label} byte-order mark but invalid {label}; re-save it as UTF-8") from None
    if b"\x00" in data:
        raise ExtractionError("binary file, not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    results = from_bytes(data)
    best = results.best()
    if best is None:
        raise ExtractionError("binary file, not text")
    # English with a few accents decodes cleanly in many code pages, and charset-normalizer's
    # tie-break then often lands on a rare one (cp775 for "Café"); prefer what browsers assume.
    tied = [r for r in results if r.chaos <= best.chaos and r.encoding == "cp1252"]
    return str(tied[0] if tied else best)


def _from_text(name: str, kind: str, data: bytes) -> Extracted:
    text = _clean(decode(data))
    sample = text[:100_000]
    if sample and len(CONTROL.findall(sample)) > len(sample) / 10:
        raise ExtractionError("binary file, not text")
    first = FIRST_LINE.search(text)
    if first is None:
        raise ExtractionError("empty (no text)")
    title = first.group().strip()
    if kind == "markdown":
        title = re.sub(r"^#{1,6}\s+", "", title).strip() or title
    body = text[first.end() + 1 :]  # + 1: the title line's own "\n"
    if not body.strip():
        raise ExtractionError("has a title line but no body")
    return Extracted(name, kind, title, None, None, None, body)


# --- HTML ----------------------------------------------------------------------------------------


def _gunzip(data: bytes) -> bytes:
    """Decompresses at most MAX_BYTES + 1 bytes, so a gzip bomb costs 20 MB, not gigabytes."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            html = stream.read(MAX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise ExtractionError(f"not a readable gzip file ({exc})") from None
    if len(html) > MAX_BYTES:
        raise ExtractionError(f"larger than {MAX_BYTES // (1024 * 1024)} MB once decompressed")
    return html


def _from_html(name: str, data: bytes) -> Extracted:
    """trafilatura finds the article among menus, ads and comments; it never runs the page's scripts."""
    import trafilatura
    from lxml.etree import LxmlError

    try:
        doc = trafilatura.bare_extraction(data, with_metadata=True, **HTML_OPTIONS)
    except (RecursionError, LxmlError, ValueError) as exc:
        raise ExtractionError(f"could not parse the page: {exc or type(exc).__name__}") from None
    if doc is None or not (doc.text or "").strip():
        raise ExtractionError("no article text found in the page")
    title = _clean(doc.title or "").strip() or None
    text = _without_title(title, _clean(doc.text))
    if not text.strip():
        raise ExtractionError("no article text found in the page (only its title)")
    return Extracted(name, "html", title, doc.author or None, _iso_date(doc.date), doc.url or None, text)


# --- PDF -----------------------------------------------------------------------------------------


def _from_pdf(name: str, data: bytes) -> Extracted:
    """Page texts joined by a blank line; `pages` keeps where each starts, for page numbers in citations."""
    reader = _open_pdf(data)
    try:
        texts = _pdf_page_texts(name, reader)
        meta = reader.metadata
        title, author = (meta.title, meta.author) if meta else (None, None)
        created = _pdf_date(meta) if meta else None
    except Exception as exc:  # noqa: BLE001 - pypdf raises all sorts (KeyError, TypeError …) on garbage
        raise ExtractionError(f"not a readable PDF ({exc or type(exc).__name__})") from None
    if not any(t.strip() for t in texts):
        raise ExtractionError("no text layer (a scanned PDF? run OCR first)")
    starts, offset = [], 0
    for page_text in texts:
        starts.append(offset)
        offset += len(page_text) + 2
    text = "\n\n".join(texts)
    title = _clean(str(title or "")).strip() or FIRST_LINE.search(text).group().strip()
    author = _clean(str(author or "")).strip() or None
    return Extracted(name, "pdf", title, author, created, None, text, tuple(starts))


def _open_pdf(data: bytes) -> PdfReader:
    """A reader ready for text; PDFs locked with an empty password (common, for 'no copying') are opened."""
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise ExtractionError("encrypted PDF (needs a password)")
    except ExtractionError:
        raise
    except DependencyError:
        raise ExtractionError("encrypted PDF (AES needs the 'cryptography' package)") from None
    except Exception as exc:  # noqa: BLE001 - as above: garbage in, any exception out
        raise ExtractionError(f"not a readable PDF ({exc or type(exc).__name__})") from None
    return reader


def _pdf_page_texts(name: str, reader: PdfReader) -> list[str]:
    count = len(reader.pages)
    if count > MAX_PDF_PAGES:
        log.warning("%s: %d pages; reading the first %d", name, count, MAX_PDF_PAGES)
    return [_clean(reader.pages[i].extract_text() or "").rstrip() for i in range(min(count, MAX_PDF_PAGES))]


def _pdf_date(meta: DocumentInformation) -> str | None:
    try:
        return _iso_date(meta.creation_date)
    except ValueError:  # a malformed /CreationDate should not cost the text
        return None


# --- Word ----------------------------------------------------------------------------------------


def _check_zip(data: bytes) -> None:
    """Refuses a zip bomb from its directory alone, before python-docx unpacks anything."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ExtractionError("not a Word .docx file (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ExtractionError(f"not a readable Word file ({exc})") from None
    total = sum(m.file_size for m in members)
    if total > MAX_UNZIPPED:
        raise ExtractionError(f"suspicious archive ({total:,} bytes once unpacked)")
    for m in members:
        if m.file_size > RATIO_FLOOR and m.file_size > MAX_RATIO * max(m.compress_size, 1):
            raise ExtractionError(f"suspicious archive ({m.filename} unpacks {m.file_size // m.compress_size}x)")


def _from_docx(name: str, data: bytes) -> Extracted:
    _check_zip(data)
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
        paragraphs = [_clean(p.text) for p in document.paragraphs]
        props = document.core_properties
        title, author, created = props.title, props.author, props.created or props.modified
    except Exception as exc:  # noqa: BLE001 - python-docx raises KeyError, ValueError, lxml errors …
        raise ExtractionError(f"not a readable Word file ({exc or type(exc).__name__})") from None
    paragraphs = [p for p in paragraphs if p.strip()]
    if not paragraphs:
        raise ExtractionError("empty (no text)")
    title = _clean(title or "").strip() or paragraphs[0].strip()
    if paragraphs[0].strip().casefold() == title.casefold():  # the title, or the title repeated
        paragraphs = paragraphs[1:]
    text = "\n\n".join(paragraphs)
    if not text.strip():
        raise ExtractionError("has a title but no body")
    return Extracted(name, "docx", title, _clean(author or "").strip() or None, _iso_date(created), None, text)


# --- shared --------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\x00", "")


def _without_title(title: str | None, text: str) -> str:
    """Drops a first line that repeats the title, so the title is not indexed (and quoted) twice."""
    first = FIRST_LINE.search(text)
    if title and first and first.group().strip().casefold() == title.casefold():
        return text[first.end() + 1 :]
    return text


def _iso_date(value: object) -> str | None:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    match = ISO_DATE.match(str(value or "").strip())
    return match.group() if match else None


# --- CLI -----------------------------------------------------------------------------------------


def _render(item: Extracted) -> str:
    lines = [f"== {item.file} ({item.format}) =="]
    lines += [f"{key}: {getattr(item, key)}" for key in ("title", "author", "date", "url") if getattr(item, key)]
    if item.pages:
        lines.append(f"pages: {len(item.pages)}")
    return "\n".join(lines) + "\n\n" + item.text.strip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.extract",
        description="Show exactly what indexing takes from each file: title, author, date, URL and body text. "
        f"Reads {', '.join(SUFFIXES)} (up to {MAX_BYTES // (1024 * 1024)} MB each).",
        epilog="Exit status 1 when any file could not be used; its reason goes to stderr.",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files to extract")
    parser.add_argument("--json", action="store_true", help="one JSON object per file per line, for scripts")
    args = parser.parse_args(argv)
    setup_logging(logging.ERROR)  # each file's problem is its own "error:" line below
    failed = False
    for path in args.files:
        try:
            item = extract_file(path)
        except ExtractionError as exc:
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed = True
            continue
        print(json.dumps(item.as_json(), ensure_ascii=False) if args.json else _render(item), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
