"""Index build throughput against the raw model's `encode` on the same texts, then an unchanged re-index.

Corpus: the first ~300 paragraphs of the SQuAD v1.1 dev corpus in .eval, as files of 10
paragraphs each. The texts are exactly the ones the indexer embeds (chunk texts + sentence
texts, deduplicated by cache key). The baseline, the raw `SentenceTransformer.encode` (batch 32),
encodes every one of them once: alternate texts by length just before the build, the rest just
after, so drift in the machine's load hits both sides.
Then the index is updated with nothing changed, on that corpus and on the seeds: `build` in this
process, and the CLI in a new one (interpreter start and imports included).

    python bench/build_throughput.py [--paragraphs 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embeddings import Encoder  # noqa: E402
from retrieval.backends import vector_key  # noqa: E402
from retrieval.chunking import chunk_article  # noqa: E402
from retrieval.corpus import load_corpus  # noqa: E402
from retrieval.index import build  # noqa: E402

SQUAD_CORPUS = ROOT / ".eval/squad-v1.1/corpus"
PER_FILE = 10


def write_subset(folder: Path, paragraphs: int) -> int:
    """SQuAD articles in name order, cut into files of PER_FILE paragraphs; returns the paragraphs written."""
    folder.mkdir(parents=True)
    written = 0
    for path in sorted(SQUAD_CORPUS.glob("*.txt")):
        title, *paras = [p for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
        for part, start in enumerate(range(0, len(paras), PER_FILE)):
            group = paras[start : start + PER_FILE][: paragraphs - written]
            (folder / f"{path.stem}_{part:02d}.txt").write_text(f"{title} ({part + 1})\n\n" + "\n\n".join(group) + "\n", encoding="utf-8")
            written += len(group)
            if written >= paragraphs:
                return written
    return written


def embedded_texts(corpus: Path, model: str) -> list[str]:
    """The texts `build` embeds for `corpus`: every chunk and every sentence, one per cache key."""
    texts = {}
    for article in load_corpus(corpus)[0]:
        for chunk in chunk_article(article):
            texts[vector_key(model, chunk.text)] = chunk.text
            for start, end in chunk.sentences:
                texts[vector_key(model, article.text[start:end])] = article.text[start:end]
    return list(texts.values())


def raw_encode_seconds(encoder: Encoder, texts: list[str]) -> float:
    started = time.perf_counter()
    encoder.model.encode(texts, batch_size=encoder.batch_size, normalize_embeddings=True, convert_to_numpy=True)
    return time.perf_counter() - started


def unchanged_reindex(name: str, corpus: Path, index_dir: Path, first_seconds: float) -> None:
    """`build` again in this process with a fresh, unloaded encoder, then the CLI in a new process."""
    report = build(corpus, index_dir)
    print(
        f"  {name}: unchanged re-index: embedded {report.embedded} (goal 0), {report.seconds:.3f} s, "
        f"{100 * report.seconds / first_seconds:.2f} % of the first build (goal < 5 %)"
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "retrieval.index", "--corpus", str(corpus), "--index", str(index_dir), "--quiet"],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    cli = time.perf_counter() - started
    print(
        f"  {name}: same via `python -m retrieval.index` in a new process: {cli:.2f} s wall, {100 * cli / first_seconds:.1f} % of the first build"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paragraphs", type=int, default=300, help="SQuAD paragraphs in the corpus (default %(default)s)")
    args = parser.parse_args()

    sys.stdout.reconfigure(line_buffering=True)
    encoder = Encoder()
    encoder.encode(["warm-up"])
    print(f"build_throughput.py  {date.today()}  model {encoder.name}, batch {encoder.batch_size}")
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        tmp = Path(tmp)
        paragraphs = write_subset(tmp / "corpus", args.paragraphs)
        texts = embedded_texts(tmp / "corpus", encoder.name)
        print(f"squad subset: {paragraphs} paragraphs in {len(list((tmp / 'corpus').iterdir()))} files, {len(texts)} texts to embed")
        by_length = sorted(texts, key=len)
        print("raw encode, first half", file=sys.stderr)
        before = raw_encode_seconds(encoder, by_length[0::2])
        print("build", file=sys.stderr)
        report = build(tmp / "corpus", tmp / "index", encoder=encoder)
        print("raw encode, second half", file=sys.stderr)
        after = raw_encode_seconds(encoder, by_length[1::2])
        raw_rate = len(texts) / (before + after)
        build_rate = report.embedded / report.seconds
        if report.embedded != len(texts):
            raise SystemExit(f"build embedded {report.embedded} texts, not the {len(texts)} timed raw")
        print(f"  raw model.encode: {raw_rate:6.2f} texts/s  ({before:.1f} s + {after:.1f} s, halves before and after the build)")
        print(
            f"  build (pipeline): {build_rate:6.2f} texts/s  ({report.embedded} embedded in {report.seconds:.1f} s, {report.chunks} chunks)"
        )
        print(f"  pipeline loss: {100 * (1 - build_rate / raw_rate):.1f} % (goal < 10 %)")
        unchanged_reindex("squad subset", tmp / "corpus", tmp / "index", report.seconds)

        print("seeds", file=sys.stderr)
        seeds = build(ROOT / "seeds", tmp / "seeds", encoder=encoder)
        print(f"seeds: first build: embedded {seeds.embedded} texts, {seeds.chunks} chunks, {seeds.seconds:.2f} s")
        unchanged_reindex("seeds", ROOT / "seeds", tmp / "seeds", seeds.seconds)


if __name__ == "__main__":
    main()
