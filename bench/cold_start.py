"""Answering without torch: cold start, warm latency and bulk throughput, ONNX vs sentence-transformers, in one run.

(a) cold start to first answer of `python -m bot.repl --json --no-update` (and of a minimal script that
    opens the index with `query_encoder`), against (b) `python -c "import sentence_transformers"`;
(c) warm question-to-answer p50/p99 through `Answerer.ask` with each encoder (ONNX in a process of its
    own that never imports torch, as a bot answering from an index would be), and
(d) the ONNX answer p50 against one sentence-transformers encode of a question;
(e) embedding throughput on the same texts: sentence-transformers, onnxruntime fp32 and int8.

    python bench/cold_start.py [--index DIR] [--runs 3] [--questions 240]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from embeddings import Encoder, OnnxEncoder, ensure_onnx  # noqa: E402
from retrieval.answer import Answerer  # noqa: E402
from retrieval.sentences import split_sentences  # noqa: E402

SEEDS = ROOT / "seeds"
SQUAD = ROOT.parent / "shared" / "eval" / "squad-v1.1" / "dev-v1.1.json"
QUESTION = "Who is Aram Hamparian?"
SEED_QUESTIONS = [
    QUESTION,
    "What did Kim Kardashian ask her followers?",
    "Who trace their ancestry to Armenia?",
    "What is the capital of Armenia?",
]
ANSWER_ONCE = """
import sys
from embeddings import query_encoder
from retrieval.answer import Answerer
print(Answerer.open(sys.argv[1], encoder=query_encoder(sys.argv[1])).ask(sys.argv[2]).text)
"""
WARM_ONNX = """
import json, sys, time
from embeddings import query_encoder
from retrieval.answer import Answerer
questions = json.load(sys.stdin)
encoder = query_encoder(sys.argv[1])
answerer = Answerer.open(sys.argv[1], encoder=encoder)
def timed(fn, arg):
    started = time.perf_counter()
    fn(arg)
    return time.perf_counter() - started
for question in questions[:4]:
    answerer.ask(question)
answer = [timed(answerer.ask, q) for q in questions]
encode = [timed(encoder.encode, [q]) for q in questions]
print(json.dumps({"answer": answer, "encode": encode, "torch": "torch" in sys.modules}))
"""


def seed_sentences() -> list[str]:
    texts = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    return [text[s:e] for text in texts for s, e in split_sentences(text)]


def squad() -> tuple[list[str], list[str]]:
    """SQuAD v1.1 dev paragraphs and questions, in file order (empty when the data is not there)."""
    if not SQUAD.exists():
        return [], []
    paragraphs = [p for article in json.loads(SQUAD.read_text(encoding="utf-8"))["data"] for p in article["paragraphs"]]
    return [p["context"] for p in paragraphs], [qa["question"] for p in paragraphs for qa in p["qas"]]


def wall(command: list[str], stdin: str = "") -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(command, input=stdin, cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done


def cold(command: list[str], runs: int, stdin: str = "") -> float:
    """Median wall time over `runs`, after one untimed run that warms the file cache."""
    wall(command, stdin)
    return statistics.median(wall(command, stdin)[0] for _ in range(runs))


def ms_percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles([s * 1000 for s in samples], n=100, method="inclusive")
    return cuts[49], cuts[98]


def timed(fn, arg) -> float:
    started = time.perf_counter()
    fn(arg)
    return time.perf_counter() - started


def throughput(encoder, texts: list[str]) -> tuple[float, np.ndarray]:
    encoder.encode(texts[:8])
    started = time.perf_counter()
    vectors = encoder.encode(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def run(args, work: Path) -> None:
    torch_encoder = Encoder(device="cpu")
    index = Path(args.index) if args.index else work / "index"
    if not args.index:
        from retrieval.index import build

        build(SEEDS, index, encoder=torch_encoder)
    onnx_file = ensure_onnx(index)
    from retrieval.reader import ensure_onnx as ensure_reader

    ensure_reader(index)  # as the indexer does: later starts answer without torch
    print(f"index: {index}")
    print(f"load_average_1min_at_start: {os.getloadavg()[0]:.2f}")

    py = sys.executable
    repl = [py, "-m", "bot.repl", "--json", "--no-update", "--index", str(index)]
    _, traced = wall([py, "-X", "importtime", *repl[1:]], QUESTION + "\n")
    print(
        f"repl_imports_torch: {'yes' if any(line.rsplit('|', 1)[-1].strip() == 'torch' for line in traced.stderr.splitlines()) else 'no'}"
    )
    repl_s = cold(repl, args.runs, QUESTION + "\n")
    script_s = cold([py, "-c", ANSWER_ONCE, str(index), QUESTION], args.runs)
    import_s = cold([py, "-c", "import sentence_transformers"], args.runs)
    print(f"cold_start_repl_s: {repl_s:.2f}")
    print(f"cold_start_query_encoder_script_s: {script_s:.2f}")
    print(f"import_sentence_transformers_s: {import_s:.2f}")
    print(f"ratio_repl_to_import (goal <= 0.10): {repl_s / import_s:.3f}")
    print(f"ratio_query_encoder_script_to_import: {script_s / import_s:.3f}")

    paragraphs, squad_questions = squad()
    pool = SEED_QUESTIONS + [f"What about {' '.join(s.split()[:8])}?" for s in seed_sentences()] + squad_questions
    questions = (pool * (args.questions // len(pool) + 1))[: args.questions]
    onnx_times = json.loads(wall([py, "-c", WARM_ONNX, str(index)], json.dumps(questions))[1].stdout)
    answerer = Answerer.open(index, encoder=torch_encoder)
    for question in SEED_QUESTIONS:
        answerer.ask(question)
    torch_times = {"answer": [timed(answerer.ask, q) for q in questions], "encode": [timed(torch_encoder.encode, [q]) for q in questions]}
    print(f"warm_questions: {len(questions)}")
    print(f"warm_onnx_process_imported_torch: {'yes' if onnx_times['torch'] else 'no'}")
    for name, samples in (("onnx", onnx_times), ("torch", torch_times)):
        p50, p99 = ms_percentiles(samples["answer"])
        print(f"warm_answer_{name}_p50_ms: {p50:.2f}")
        print(f"warm_answer_{name}_p99_ms: {p99:.2f}")
        print(f"encode_one_question_{name}_p50_ms: {ms_percentiles(samples['encode'])[0]:.2f}")
    ratio = ms_percentiles(onnx_times["answer"])[0] / ms_percentiles(torch_times["encode"])[0]
    print(f"ratio_onnx_answer_p50_to_torch_encode_p50 (goal <= 0.35): {ratio:.3f}")

    from onnxruntime.quantization import QuantType, quantize_dynamic

    texts = (seed_sentences() + paragraphs[:150] + squad_questions[:300])[:500]
    print(f"throughput_texts: {len(texts)}")
    print(f"throughput_words_per_text: {sum(len(t.split()) for t in texts) / len(texts):.0f}")
    torch_rate, want = throughput(torch_encoder, texts)
    onnx_rate, got = throughput(OnnxEncoder(onnx_file, threads=2), texts)  # two threads, as torch has
    int8_file = work / "int8.onnx"
    quantize_dynamic(str(onnx_file), str(int8_file), weight_type=QuantType.QInt8)
    int8_rate, got8 = throughput(OnnxEncoder(int8_file, threads=2), texts)
    print(f"throughput_sentence_transformers_texts_per_s: {torch_rate:.1f}")
    print(f"throughput_onnx_fp32_texts_per_s: {onnx_rate:.1f}")
    print(f"throughput_onnx_int8_texts_per_s: {int8_rate:.1f}")
    for name, vectors in (("fp32", got), ("int8", got8)):
        cosines = (vectors * want).sum(axis=1)
        print(f"parity_{name}_cosine_min: {cosines.min():.7f}")
        print(f"parity_{name}_cosine_mean: {cosines.mean():.7f}")
    print(f"onnx_fp32_mb: {sum(f.stat().st_size for f in onnx_file.parent.iterdir()) / 1e6:.1f}")
    print(f"onnx_int8_mb: {int8_file.stat().st_size / 1e6:.1f}")
    print(f"load_average_1min_at_end: {os.getloadavg()[0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--index", help="an index folder; its ONNX encoder is exported if missing (default: seeds/ built into a temp folder)"
    )
    parser.add_argument("--runs", type=int, default=3, help="timed cold starts per command")
    parser.add_argument("--questions", type=int, default=240, help="warm questions per encoder (>= 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cold-start-") as work:
        run(args, Path(work))


if __name__ == "__main__":
    main()
