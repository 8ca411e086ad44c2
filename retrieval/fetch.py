"""A web page or a file by URL, for adding articles by link: http(s) only, capped in size, time and redirects."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from retrieval.extract import MAX_BYTES

TIMEOUT_S = 20.0
MAX_REDIRECTS = 5
MAX_FETCH_BYTES = 10 * 1024 * 1024
SUFFIX_BY_TYPE = {
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "text/plain": ".txt",
}


class FetchError(ValueError):
    """Why a URL could not be added, in words for the person who sent it."""


@dataclass(frozen=True)
class Fetched:
    url: str  # after redirects
    data: bytes
    suffix: str  # what the content is: .html, .pdf, .docx or .txt


def fetch(url: str, limit: int = min(MAX_FETCH_BYTES, MAX_BYTES)) -> Fetched:
    import httpx

    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise FetchError(f"{url!r} is not an http(s) link")
    try:
        client = httpx.Client(follow_redirects=True, max_redirects=MAX_REDIRECTS, timeout=TIMEOUT_S)
        with client, client.stream("GET", url, headers={"User-Agent": "article-qa-bot/0.1"}) as response:
            if response.status_code >= 400:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            data = _read_capped(response, limit)
            kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
            return Fetched(str(response.url), data, SUFFIX_BY_TYPE.get(kind, ".html"))
    except httpx.TooManyRedirects:
        raise FetchError(f"{url} redirects more than {MAX_REDIRECTS} times") from None
    except httpx.TimeoutException:
        raise FetchError(f"{url} did not answer within {TIMEOUT_S:.0f} s") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"could not fetch {url} ({type(exc).__name__}: {exc})") from None


def _read_capped(response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError(f"{response.url} is {int(declared):,} bytes; the limit is {limit:,}")
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{response.url} is larger than the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def file_name(url: str, suffix: str) -> str:
    """A safe, readable file name for a fetched URL: host and last path part, e.g. www.bbc.co.uk-news-12345.html."""
    parts = urlsplit(url)
    stem = "-".join(p for p in [parts.hostname or "page", *parts.path.split("/")[-2:]] if p)
    stem = re.sub(r"\.(html?|php|aspx?|pdf|docx|txt)$", "", stem, flags=re.I)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip(".-")[:100] or "page"
    return stem + suffix
