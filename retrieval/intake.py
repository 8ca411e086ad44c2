"""Articles from outside (an upload, a link, a feed) into the corpus folder, safely.

The folder stays the source of truth: what is added is saved there as a file (temp file, then
rename), so a rebuild reproduces it. Names are checked so nothing lands outside the folder, and
every file is extracted once before it is saved, so a hostile one is refused, not indexed.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from retrieval import extract
from retrieval.corpus import inside
from retrieval.errors import SetupError

UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]|^\.|\.\.")


class Refused(SetupError):
    """An article that cannot be added (unsafe name, unsupported or hostile file, a failed fetch)."""


def save(corpus: Path, name: str, data: bytes) -> tuple[Path, extract.Extracted]:
    """Checks the name and the content, then writes the file under a free name in `corpus`."""
    name = safe_name(name)
    try:
        item = extract.extract(name, data)
    except extract.ExtractionError as exc:
        raise Refused(f"{name}: {exc}") from None
    target = _free_path(corpus, name)
    _write_atomically(target, data)
    return target, item


def fetch_article(url: str) -> tuple[str, bytes]:
    """(file name, content) of a page or document by URL; Refused says why it could not be fetched."""
    from retrieval.fetch import FetchError, fetch, file_name

    try:
        fetched = fetch(url)
    except FetchError as exc:
        raise Refused(str(exc)) from None
    return file_name(fetched.url, fetched.suffix), fetched.data


def find(corpus: Path, article: str) -> Path | None:
    """The file of an indexed article (its id, a path inside the corpus; a link itself, not what it
    points to); None for anything else."""
    if any(UNSAFE_NAME.search(part) for part in article.split("/")):
        return None
    path = corpus / article
    return path if inside(corpus.resolve(), path) else None


def safe_name(name: str) -> str:
    """A file name from outside (an upload, a link) that can only land inside the corpus folder."""
    name = name.strip()
    if not name or UNSAFE_NAME.search(name) or len(name) > 200:
        raise Refused(f"{name[:80]!r} is not a safe file name (no folders, dots in front, control characters)")
    if extract.format_of(name) is None:
        raise Refused(f"{name}: only {', '.join(extract.SUFFIXES)} files can be added")
    return name


def _split_suffix(name: str) -> tuple[str, str]:
    suffix = ".html.gz" if name.lower().endswith(".html.gz") else Path(name).suffix
    return name[: len(name) - len(suffix)], suffix


def _write_atomically(path: Path, data: bytes) -> None:
    """Temp file, then rename: the watcher and the indexer never see half a file."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=".adding-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _free_path(corpus: Path, name: str) -> Path:
    corpus.mkdir(parents=True, exist_ok=True)
    stem, suffix = _split_suffix(name)
    target, n = corpus / name, 1
    while target.exists():
        n += 1
        target = corpus / f"{stem}-{n}{suffix}"
    return target
