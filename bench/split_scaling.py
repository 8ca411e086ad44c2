"""Sentence splitting + chunking time against article size: it must grow linearly.

Articles of 0.25, 0.5, 1 and 2 MB are made from real prose (the seed articles, repeated with
numbered paragraphs so no two are the same). The baseline is the 0.25 MB time, measured in the
same run: a linear splitter takes about 2x for each doubling (the old quadratic one took 4x).

    python bench/split_scaling.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.chunking import chunk_article  # noqa: E402
from retrieval.corpus import load_corpus, parse_article  # noqa: E402

SIZES_MB = (0.25, 0.5, 1.0, 2.0)


def article_of(size: int, prose: str) -> str:
    parts, total, n = ["A long report\n\n"], 0, 0
    while total < size:
        n += 1
        paragraph = f"Part {n}. {prose}\n\n"
        parts.append(paragraph)
        total += len(paragraph)
    return "".join(parts)[: size + 20]


def main() -> None:
    articles, _ = load_corpus(ROOT / "seeds")
    prose = " ".join(a.text[a.body_start :] for a in articles).replace("\n", " ")
    print(f"split_scaling.py: sentence splitting + chunking, seed prose repeated ({len(prose):,} characters per copy)")
    base = None
    for mb in SIZES_MB:
        text = article_of(int(mb * 1_000_000), prose)
        article = parse_article("long.txt", text)
        started = time.perf_counter()
        chunks = chunk_article(article)
        seconds = time.perf_counter() - started
        base = base or seconds
        print(
            f"  {mb:>5} MB  {len(chunks):>6,} chunks  {seconds:6.2f} s   {seconds / base:5.1f}x the 0.25 MB time (linear: {mb / SIZES_MB[0]:.0f}x)"
        )


if __name__ == "__main__":
    main()
