"""Adds articles by link, or the new items of RSS/Atom feeds, to the corpus folder, then updates the
index once: `python -m retrieval.add --help`. Made for a cron job that keeps a news corpus current."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from retrieval import backends, intake, settings
from retrieval.cli import run, setup_logging
from retrieval.index import update_index
from retrieval.intake import Refused

SEEN_FILE = "feeds-seen.json"  # in the index folder: which feed items were added already

log = logging.getLogger("retrieval.add")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.add",
        description="Fetch web pages (or PDFs, Word files) by URL, save each into the corpus folder as a file, "
        "and update the index: only the new articles are embedded. Exit code 1 if any URL failed.",
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="http(s) links to articles")
    parser.add_argument(
        "--feed", action="append", default=[], metavar="URL", help="an RSS or Atom feed: add the items not added before (repeatable)"
    )
    settings.add_options(parser)
    args = parser.parse_args(argv)
    if not args.urls and not args.feed:
        parser.error("give at least one URL or --feed URL")
    setup_logging()
    return run(lambda: _add(args))


def _add(args) -> int:
    config = settings.from_args(args)
    seen_path = config.index / SEEN_FILE
    seen = json.loads(seen_path.read_text(encoding="utf-8")) if seen_path.is_file() else {}
    wanted = [(url, None) for url in args.urls]
    for feed in args.feed:
        wanted += [(link, feed) for link in feed_links(feed) if link not in seen.get(feed, [])]
    failed = 0
    for url, feed in wanted:
        try:
            path, item = intake.save(config.corpus, *intake.fetch_article(url))
        except Refused as exc:
            print(f"error: {url}: {exc}", file=sys.stderr)
            failed += 1
            continue
        print(f"added {path.name}: {item.title or path.stem}")
        if feed:
            seen.setdefault(feed, []).append(url)
    if seen:  # before indexing: a failed update must not make the next run save the same items again
        _write_json(seen_path, seen)
    if len(wanted) > failed:
        print(update_index(config.corpus, backends.location(config), device=config.device).summary())
    return 1 if failed else 0


def feed_links(feed: str) -> list[str]:
    """The item links of a feed, newest first as the feed lists them; Refused when it cannot be read."""
    import feedparser

    _, data = intake.fetch_article(feed)
    parsed = feedparser.parse(data)
    if parsed.bozo and not parsed.entries:
        raise Refused(f"{feed} is not a readable RSS or Atom feed ({parsed.get('bozo_exception')})")
    return [entry.link for entry in parsed.entries if entry.get("link")]


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1), encoding="utf-8")
    tmp.replace(path)


if __name__ == "__main__":
    sys.exit(main())
