"""Warm question-to-answer latency of `Answerer.ask` against one raw torch `encode` of the same question.

Two corpora: the seeds (built into a temp folder; 22 questions, answerable and not, cycled) and
the SQuAD v1.1 dev index in .eval (copied to a temp folder; seeded sample of its questions).
Each question is timed two or three ways back to back, in alternating order (torch encode, the
answering encoder's encode when it is not torch, ask), so machine noise hits all of them alike.
Ratio = ask p50 / torch encode p50. The same questions are also asked without the learned reader
(sentences chosen by the fitted logistic model), so the reader's cost shows in the same run.

    python bench/latency.py [--n 200] [--encoder torch|onnx]
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embeddings import Encoder  # noqa: E402
from retrieval.answer import Answerer  # noqa: E402
from retrieval.datasets import write_squad_corpus  # noqa: E402
from retrieval.index import build  # noqa: E402
from retrieval.reader import ensure_onnx as ensure_reader  # noqa: E402

try:
    from embeddings import OnnxEncoder, ensure_onnx, query_encoder  # noqa: E402
except ImportError:  # the ONNX query encoder is not in this checkout
    query_encoder = None

SQUAD_JSON = ROOT.parent / "shared/eval/squad-v1.1/dev-v1.1.json"
SQUAD_INDEX = ROOT / ".eval/squad-v1.1/index"
WARMUP = 5

SEED_QUESTIONS = [
    "What did Kim Kardashian ask her followers to do?",
    "Who is Aram Hamparian?",
    "When did the conflict between Armenia and Azerbaijan start?",
    "Which region is the conflict about?",
    "Who co-chaired the Minsk Process?",
    "Who is Eric Esrailian?",
    "What film did Esrailian produce?",
    "Whose sentence did Kardashian West get commuted?",
    "When did House lawmakers introduce a resolution condemning Azerbaijan?",
    "What share of the region's population was Armenian?",
    "What is the capital of Armenia?",
    "Which members of the Kardashian family support the call?",
    "what did kim kardashain want from the white house",
    "Who did the House lawmakers write a letter to?",
    "Why do the Kardashians care about Armenia?",
    "Who won the 2018 World Cup?",
    "What is the boiling point of water?",
    "How many albums has Serj Tankian released?",
    "What is the population of Baku?",
    "Who is the prime minister of Armenia?",
    "How do I bake sourdough bread?",
    "What is the GDP of Turkey?",
]


def pick_encoder(choice: str | None, index_dir: Path, torch_encoder: Encoder):
    """torch, onnx, or (default) whatever `embeddings.query_encoder` gives the index; torch without it."""
    if choice == "onnx":
        if query_encoder is None:
            raise SystemExit("--encoder onnx needs embeddings.query_encoder, which this checkout lacks")
        return OnnxEncoder(ensure_onnx(index_dir))
    encoder = query_encoder(index_dir) if choice is None and query_encoder is not None else torch_encoder
    return torch_encoder if isinstance(encoder, Encoder) else encoder  # one torch model is enough


def percentile(samples: list[float], p: int) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[p - 1]


def measure(name: str, index_dir: Path, questions: list[str], torch_encoder: Encoder, choice: str | None) -> None:
    encoder = pick_encoder(choice, index_dir, torch_encoder)
    ensure_reader(index_dir)
    answerer = Answerer.open(index_dir, encoder=encoder)
    without_reader = Answerer.open(index_dir, encoder=encoder, reader=None)
    separate = encoder is not torch_encoder
    for q in questions[:WARMUP]:
        torch_encoder.encode([q])
        answerer.ask(q)
        without_reader.ask(q)
    timings = {"raw": [], "own": [], "ask": [], "fitted": []}
    calls = {"raw": lambda q: torch_encoder.encode([q]), "ask": answerer.ask, "fitted": without_reader.ask}
    if separate:
        calls["own"] = lambda q: encoder.encode([q])
    answered = 0
    for i, q in enumerate(questions):
        for call in list(calls)[:: 1 if i % 2 else -1]:  # alternate the order: no call always goes first
            started = time.perf_counter()
            result = calls[call](q)
            timings[call].append(time.perf_counter() - started)
            answered += call == "ask" and not result.abstained
        if (i + 1) % 50 == 0:
            print(f"  {name}: {i + 1}/{len(questions)}", file=sys.stderr)
    raw, own, asked, fitted = timings["raw"], timings["own"], timings["ask"], timings["fitted"]
    ms = lambda samples, p: 1000 * percentile(samples, p)  # noqa: E731
    print(
        f"{name}: {len(questions)} questions, {len(answerer.index)} chunks, answered {answered}, abstained {len(questions) - answered}; answering encoder {type(encoder).__name__}"
    )
    print(f"  torch encode([q])  p50 {ms(raw, 50):7.1f} ms   p99 {ms(raw, 99):7.1f} ms   (baseline)")
    if separate:
        print(f"  {type(encoder).__name__}.encode([q]) p50 {ms(own, 50):7.1f} ms   p99 {ms(own, 99):7.1f} ms")
    print(f"  Answerer.ask(q)    p50 {ms(asked, 50):7.1f} ms   p99 {ms(asked, 99):7.1f} ms   (with the reader)")
    print(f"  ... without reader p50 {ms(fitted, 50):7.1f} ms   p99 {ms(fitted, 99):7.1f} ms")
    print(
        f"  ratio ask / torch encode: p50 {percentile(asked, 50) / percentile(raw, 50):.2f}x   p99 {percentile(asked, 99) / percentile(raw, 99):.2f}x"
    )
    answerer.index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="timed questions per corpus (default %(default)s)")
    parser.add_argument(
        "--encoder", choices=["torch", "onnx"], help="answering encoder (default: embeddings.query_encoder(index) if present, else torch)"
    )
    args = parser.parse_args()

    sys.stdout.reconfigure(line_buffering=True)
    torch_encoder = Encoder()
    print(f"latency.py  {date.today()}  warm, {WARMUP} warm-up questions untimed")
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        tmp = Path(tmp)
        print("building the seeds index", file=sys.stderr)
        build(ROOT / "seeds", tmp / "seeds", encoder=torch_encoder)
        seeds = [SEED_QUESTIONS[i % len(SEED_QUESTIONS)] for i in range(args.n)]
        measure("seeds", tmp / "seeds", seeds, torch_encoder, args.encoder)

        shutil.copytree(SQUAD_INDEX, tmp / "squad")  # ensure_onnx may write into the index folder
        questions = [q.text for q in write_squad_corpus(SQUAD_JSON, tmp / "squad-corpus")]
        measure("squad-v1.1", tmp / "squad", random.Random(13).sample(questions, args.n), torch_encoder, args.encoder)


if __name__ == "__main__":
    main()
