"""Article text from real web pages: our `extract()` against trafilatura's defaults, 4-word-shingle F1.

The pages and the score come from ../shared/eval/article-extraction/ (121 gzip'd pages from
Scrapinghub's article extraction benchmark; its README defines the score). For each page the
extracted body is compared with the human `articleBody`: lower-cased `\\w+` tokens, runs of 4
(a multiset), precision and recall per page, each averaged over pages, F1 from the two means.
A page where nothing is extracted scores precision 0 and recall 0.

Each `.html.gz` goes through `retrieval.extract.extract(name, bytes)`, the path indexing uses
(decompression included), so the "extract() text" row is exactly what
`python -m retrieval.extract --json` prints in "text". The baseline, measured in the same run, is
`trafilatura.extract()` with its defaults on the same bytes (published: F1 0.958).

--tune also runs trafilatura option variants through the same path. They are compared on the
first 60 pages by key ("tune") and reported on the other 61 ("held out") too, so a choice made on
the first half is checked on pages it was not chosen on.

    python bench/html_extraction.py [--tune] [--data DIR]
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval import extract as extraction  # noqa: E402

DATA = ROOT.parent / "shared" / "eval" / "article-extraction"
TUNE_PAGES = 60
VARIANTS = {  # trafilatura options tried on top of extract()'s own
    "favor_precision": {"favor_precision": True},
    "favor_recall": {"favor_recall": True},
    "no tables": {"include_tables": False},
    "formatting off": {"include_formatting": False},
    "deduplicate": {"deduplicate": True},
    "comments kept": {"include_comments": True},
}


@dataclass(frozen=True)
class Row:
    system: str
    precision: list[float]  # one per page, in key order
    recall: list[float]
    seconds: float


def shingles(text: str, n: int = 4) -> Counter:
    tokens = re.findall(r"\w+", text.lower())
    if 0 < len(tokens) < n:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def page_score(truth: str, predicted: str) -> tuple[float, float]:
    """Precision and recall of one page's shingles (0 for an empty side, as the benchmark does)."""
    true, pred = shingles(truth), shingles(predicted)
    hits = sum((true & pred).values())
    precision = hits / sum(pred.values()) if pred else 0.0
    recall = hits / sum(true.values()) if true else 0.0
    return precision, recall


def f1(precision: list[float], recall: list[float]) -> float:
    p, r = sum(precision) / len(precision), sum(recall) / len(recall)
    return 2 * p * r / (p + r) if p + r else 0.0


def run(systems: dict[str, Callable[[str, bytes], str]], pages: list[tuple[str, bytes, str]]) -> list[Row]:
    """Each system on every page; systems that share one extraction are timed together."""
    scores: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in systems}
    seconds = dict.fromkeys(systems, 0.0)
    for system in systems.values():  # imports and first-use costs are not extraction time
        system(f"{pages[0][0]}.html.gz", pages[0][1])
    for key, raw, truth in pages:
        for name, system in systems.items():
            started = time.perf_counter()
            predicted = system(f"{key}.html.gz", raw)
            seconds[name] += time.perf_counter() - started
            p, r = page_score(truth, predicted)
            scores[name][0].append(p)
            scores[name][1].append(r)
    return [Row(name, *scores[name], seconds[name]) for name in systems]


def ours(with_title: bool, options: dict | None = None) -> Callable[[str, bytes], str]:
    def system(name: str, raw: bytes) -> str:
        with mock.patch.dict(extraction.HTML_OPTIONS, options or {}):
            try:
                item = extraction.extract(name, raw)
            except extraction.ExtractionError:
                return ""
        return f"{item.title}\n{item.text}" if with_title and item.title else item.text

    return system


def baseline(name: str, raw: bytes) -> str:
    import trafilatura

    return trafilatura.extract(raw) or ""


def print_table(rows: list[Row]) -> None:
    print(f"  {'system':<34} {'precision':>9} {'recall':>7} {'F1':>6}  {'F1 tune':>7} {'F1 held':>7} {'pages':>5} {'s':>6}")
    for row in rows:
        t, h = slice(0, TUNE_PAGES), slice(TUNE_PAGES, None)
        p, r = sum(row.precision) / len(row.precision), sum(row.recall) / len(row.recall)
        tune, held = f1(row.precision[t], row.recall[t]), f1(row.precision[h], row.recall[h])
        print(
            f"  {row.system:<34} {p:9.3f} {r:7.3f} {f1(row.precision, row.recall):6.3f}  "
            f"{tune:7.3f} {held:7.3f} {len(row.precision):5d} {row.seconds:6.1f}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help=f"benchmark folder (default {DATA})")
    parser.add_argument("--tune", action="store_true", help="also try trafilatura option variants")
    parser.add_argument("--limit", type=int, help="only the first N pages by key (a quick look)")
    args = parser.parse_args()
    truth_file = args.data / "ground-truth.json"
    if not truth_file.is_file():
        print(f"html_extraction.py: skipped, no benchmark data at {args.data}")
        return 0
    truth = json.loads(truth_file.read_text(encoding="utf-8"))
    keys = sorted(truth)[: args.limit]
    pages = [(k, (args.data / "html" / f"{k}.html.gz").read_bytes(), truth[k]["articleBody"]) for k in keys]
    size = sum(len(gzip.decompress(raw)) for _, raw, _ in pages)
    print(f"html_extraction.py: {len(pages)} pages ({size / 1e6:.1f} MB of HTML), 4-word-shingle F1 vs articleBody")
    print(f"  'F1 tune' = first {TUNE_PAGES} pages by key, 'F1 held' = the rest; seconds = extraction only")
    systems = {
        "extract() text (--json)": ours(with_title=False),
        "extract() title + text": ours(with_title=True),
        "trafilatura.extract default": baseline,
    }
    if args.tune:
        systems |= {f"extract() text, {label}": ours(False, options) for label, options in VARIANTS.items()}
    print_table(run(systems, pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
