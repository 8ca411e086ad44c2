"""Measures retrieval, answers and abstention on public data: `python -m retrieval.eval --help`.

Every question goes through the same `Answerer.ask()` the REPL uses, once per system
(hybrid, lexical, dense), over an index built by the project's own indexer.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import shutil
import string
import sys
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np

from retrieval import abstention, choice, settings
from retrieval import reader as reading
from retrieval.answer import Answerer
from retrieval.backends import BACKENDS, Location, location, open_index
from retrieval.cli import run, setup_logging
from retrieval.datasets import HALVES, Question, write_beir_corpus, write_squad_corpus
from retrieval.index import build
from retrieval.question import clean_question
from retrieval.search import MODES, Searcher
from retrieval.text import query_terms

EVAL_K = 20
SEED = 13
log = logging.getLogger("retrieval.eval")


def normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, single spaces."""
    text = "".join(c for c in text.lower() if c not in string.punctuation and c not in "“”‘’")
    return " ".join(w for w in text.split() if w not in ("a", "an", "the"))


def has_gold(text: str, answers: tuple[str, ...]) -> bool:
    norm = f" {normalize(text)} "
    return any(f" {normalize(a)} " in norm for a in answers if normalize(a))


def gold_ranks(hits, question: Question) -> list[bool]:
    return [h.chunk.article_id == question.article and has_gold(h.chunk.text, question.answers) for h in hits]


def retrieval_metrics(ranked: list[list[bool]], answered: list[bool], abstained: list[bool] = ()) -> dict[str, float]:
    """recall@k: a gold chunk within the top k; mrr@10; answer_has_gold: the answer text holds a gold answer."""
    n = max(len(ranked), 1)

    def recall(k: int) -> float:
        return sum(any(r[:k]) for r in ranked) / n

    def reciprocal(r: list[bool]) -> float:
        return next((1 / (i + 1) for i, g in enumerate(r[:10]) if g), 0.0)

    return {
        "recall@1": recall(1),
        "recall@5": recall(5),
        "recall@20": recall(20),
        "mrr@10": sum(reciprocal(r) for r in ranked) / n,
        "answer_has_gold": sum(answered) / max(len(answered), 1),
        "abstained": sum(abstained) / max(len(abstained), 1),
    }


class CachedEncoder:
    """Encodes every question once, in batches, however many systems ask it."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.cache: dict[str, np.ndarray] = {}

    def warm(self, texts: list[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for text, vec in zip(todo, self.inner.encode(todo, progress=sys.stderr.isatty())):
            self.cache[text] = vec

    def encode(self, texts, progress=False):
        missing = [t for t in texts if t not in self.cache]
        if missing:
            self.warm(missing)
        return np.vstack([self.cache[t] for t in texts])


def answerers(where: Path | Location, encoder, with_reader: bool = True) -> dict[str, Answerer]:
    """ "reader": hybrid search with the learned reader choosing sentences and leading abstention;
    the three search modes with the fitted sentence model, as before the reader."""
    index = open_index(where, model=encoder.name)
    systems = {mode: Answerer(Searcher(index, encoder), k=EVAL_K, mode=mode) for mode in MODES}
    if with_reader:
        folder = where.folder if isinstance(where, Location) else Path(where)
        reader = reading.Reader(reading.ensure_onnx(folder))
        systems = {"reader": Answerer(Searcher(index, encoder), k=EVAL_K, reader=reader), **systems}
    return systems


def in_split(questions: list[Question], split: str) -> list[Question]:
    """The questions of one half of the articles (`datasets.squad_half`), or all of them."""
    return questions if split == "all" else [q for q in questions if q.half == split]


def sample(questions: list[Question], limit: int | None) -> list[Question]:
    if not limit or limit >= len(questions):
        return questions
    return sorted(random.Random(SEED).sample(questions, limit), key=questions.index)


def _prepare(data: str, work: Path, encoder, articles: set[str] | None = None, name: str = "index", where: Location | None = None):
    """Writes the corpus, builds (or reuses) the index; a subset copies the full index to skip embedding."""
    corpus = work / "corpus"
    questions = write_squad_corpus(data, corpus)
    full = where or work / "index"
    build(corpus, full, encoder=encoder, progress=sys.stderr.isatty())
    if articles is None:
        return questions, full
    part_corpus, part_index = work / f"{name}-corpus", work / name
    shutil.rmtree(part_corpus, ignore_errors=True)
    part_corpus.mkdir(parents=True)
    for article in articles:
        shutil.copy(corpus / article, part_corpus / article)
    if not part_index.exists():
        shutil.copytree(full, part_index)
    build(part_corpus, part_index, encoder=encoder)
    return questions, part_index


def eval_squad(
    data: str, work: Path, encoder, limit: int | None = None, fit: bool = False, where: Location | None = None, split: str = "eval"
) -> dict:
    encoder = CachedEncoder(encoder)
    questions, index_dir = _prepare(data, work, encoder, where=where)
    questions = sample([q for q in in_split(questions, split) if q.answers], limit)
    encoder.warm([clean_question(q.text) for q in questions])
    systems = answerers(index_dir, encoder)
    result = {
        "dataset": f"squad:{Path(data).name}",
        "split": split,
        "n_questions": len(questions),
        "n_chunks": len(systems["hybrid"].index),
        "systems": {},
    }
    for mode, answerer in systems.items():
        started = time.perf_counter()
        ranked, answered, abstained = [], [], []
        for q in questions:
            answer = answerer.ask(q.text)
            ranked.append(gold_ranks(answer.sources, q))
            answered.append(not answer.abstained and has_gold(answer.text, q.answers))
            abstained.append(answer.abstained)
        result["systems"][mode] = retrieval_metrics(ranked, answered, abstained)
        result["systems"][mode]["ms_per_question"] = (time.perf_counter() - started) * 1000 / max(len(questions), 1)
        log.info("%s: %s", mode, result["systems"][mode])
    if fit:
        result["fit"] = fit_sentences(systems["hybrid"], questions)
    return result


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def eval_holdout(
    data: str, work: Path, encoder, limit: int | None = None, fit: bool = False, split: str = "eval", reader: bool = True
) -> dict:
    """Half the articles indexed (a fixed split): how often the bot declines, in and out of the corpus."""
    encoder = CachedEncoder(encoder)
    all_questions = write_squad_corpus(data, work / "corpus")
    articles = sorted({q.article for q in all_questions})
    indexed = set(articles[::2])
    questions, index_dir = _prepare(data, work, encoder, indexed, name="holdout-index")
    questions = sample(in_split(questions, split), limit)
    encoder.warm([clean_question(q.text) for q in questions])
    answerer = answerers(index_dir, encoder, with_reader=reader)["reader" if reader else "hybrid"]
    buckets: dict[str, list[bool]] = {"out_of_corpus": [], "in_corpus": [], "unanswerable": []}
    rows = []
    for q in questions:
        answer = answerer.ask(q.text)
        bucket = "out_of_corpus" if q.article not in indexed else ("in_corpus" if q.answers else "unanswerable")
        buckets[bucket].append(answer.abstained)
        rows.append({"bucket": bucket, "confidence": answer.confidence, **answer.signals})
    result = {
        "dataset": f"squad-holdout:{Path(data).name}",
        "split": split,
        "system": "reader" if reader else "hybrid",
        "n_questions": len(questions),
        "n_chunks": len(answerer.index),
        "threshold": answerer.threshold,
        "abstain_out_of_corpus": _share(buckets["out_of_corpus"]),
        "false_abstain_in_corpus": _share(buckets["in_corpus"]),
        "abstain_unanswerable": _share(buckets["unanswerable"]),
        "counts": {k: len(v) for k, v in buckets.items()},
    }
    if fit:
        result["fit"] = fit_abstention(rows)
    return result


def logistic_fit(X: np.ndarray, y: np.ndarray, steps: int = 4000, rate: float = 0.2) -> tuple[float, np.ndarray]:
    """Plain logistic regression (gradient descent on standardised features), weights on the raw scale."""
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = (X - mu) / sd
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(steps):
        g = 1 / (1 + np.exp(-(Z @ w + b))) - y
        w -= rate * (Z.T @ g / len(y) + 1e-4 * w)
        b -= rate * g.mean()
    return float(b - (w * mu / sd).sum()), w / sd


def fit_abstention(rows: list[dict]) -> dict:
    """Refits the abstention model on holdout signals (the reader's model when the rows have its
    logit; SQuAD 2.0's unanswerable questions count as ones to decline) and shows what each threshold trades."""
    names = list(abstention.READER_WEIGHTS if "reader" in rows[0] else abstention.WEIGHTS)
    if "reader" not in rows[0]:
        rows = [r for r in rows if r["bucket"] != "unanswerable"]
    X = np.array([[r[name] for name in names] for r in rows])
    y = np.array([r["bucket"] == "in_corpus" for r in rows], dtype=float)
    bucket = np.array([r["bucket"] for r in rows])
    bias, weights = logistic_fit(X, y)
    conf = 1 / (1 + np.exp(-(X @ weights + bias)))

    def declined(name: str, t: float) -> float | None:
        part = conf[bucket == name]
        return float(np.mean(part < t)) if len(part) else None

    table = {
        f"{t:.2f}": {
            f"abstain_{b}" if b != "in_corpus" else "false_abstain_in_corpus": declined(b, t)
            for b in ("out_of_corpus", "in_corpus", "unanswerable")
        }
        for t in (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    }
    answerable = np.sort(conf[bucket == "in_corpus"])
    points = {}
    for rate in (0.03, 0.04, 0.05):  # the threshold that falsely declines this share of answerable questions
        t = float(answerable[int(rate * len(answerable))]) if len(answerable) else 0.5
        points[f"{rate:.2f}"] = {"threshold": round(t, 4), **{f"abstain_{b}": declined(b, t) for b in ("out_of_corpus", "unanswerable")}}
    return {
        "bias": round(bias, 3),
        "weights": dict(zip(names, np.round(weights, 3).tolist())),
        "thresholds": table,
        "at_false_declines": points,
    }


def fit_sentences(answerer: Answerer, questions: list[Question]) -> dict:
    """Refits the sentence-choice model: which features mark a sentence that holds the gold answer."""
    X, y = [], []
    for q in questions:
        answer = answerer.ask(q.text)
        query = clean_question(q.text)
        terms = query_terms(query)
        for c in choice.candidates(query, list(answer.sources), terms, answerer.index.idf(terms)):
            X.append([c.features[name] for name in choice.SENTENCE_WEIGHTS])
            y.append(has_gold(c.text, q.answers))
    bias, weights = logistic_fit(np.array(X), np.array(y, dtype=float))
    return {"bias": round(bias, 3), "weights": dict(zip(choice.SENTENCE_WEIGHTS, np.round(weights, 3).tolist()))}


def ndcg_at_10(ranked_docs: list[str], relevant: dict[str, int]) -> float:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked_docs[:10]))
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(relevant.values(), reverse=True)[:10]))
    return dcg / ideal if ideal else 0.0


def eval_beir(data: str, work: Path, encoder, limit: int | None = None, where: Location | None = None) -> dict:
    """Document ranking (a document scores as its best chunk): nDCG@10 and recall@100."""
    corpus = work / "corpus"
    queries, qrels = write_beir_corpus(data, corpus)
    where = where or work / "index"
    build(corpus, where, encoder=encoder, progress=sys.stderr.isatty())
    encoder = CachedEncoder(encoder)
    ids = sample(sorted(queries), limit)
    encoder.warm([queries[i] for i in ids])
    index = open_index(where, model=encoder.name)
    searcher = Searcher(index, encoder, pool=300)
    result = {"dataset": f"beir:{Path(data).name}", "n_questions": len(ids), "n_chunks": len(index), "systems": {}}
    for mode in MODES:
        ndcg, recall = [], []
        for qid in ids:
            docs = list(dict.fromkeys(h.chunk.article_id for h in searcher.search(queries[qid], k=300, mode=mode)))
            ndcg.append(ndcg_at_10(docs, qrels[qid]))
            recall.append(len(set(docs[:100]) & set(qrels[qid])) / len(qrels[qid]))
        result["systems"][mode] = {"ndcg@10": float(np.mean(ndcg)), "recall@100": float(np.mean(recall))}
        log.info("%s: %s", mode, result["systems"][mode])
    return result


def plot_recall(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [1, 5, 20]
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, metrics in result["systems"].items():
        ax.plot(ks, [metrics[f"recall@{k}"] for k in ks], marker="o", label=mode)
    ax.set_xscale("log")
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k (passages retrieved)")
    ax.set_ylabel("recall@k (passage holds the gold answer)")
    ax.set_title(f"{result['dataset']}: {result['n_questions']:,} questions, {result['n_chunks']:,} passages")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def print_table(result: dict) -> None:
    print(f"{result['dataset']}  questions={result['n_questions']}  chunks={result['n_chunks']}  ({date.today()})")
    if "systems" not in result:
        for key in ("threshold", "abstain_out_of_corpus", "false_abstain_in_corpus", "abstain_unanswerable", "counts"):
            print(f"  {key}: {result[key]}")
        return
    keys = list(next(iter(result["systems"].values())))
    print(f"  {'system':8} " + " ".join(f"{k:>15}" for k in keys))
    for mode, metrics in result["systems"].items():
        print(f"  {mode:8} " + " ".join(f"{metrics[k]:>15.3f}" for k in keys))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m retrieval.eval", description="Evaluate retrieval, answers and abstention on public data sets."
    )
    parser.add_argument(
        "dataset", choices=["squad", "beir"], help="squad: SQuAD v1.1/v2.0 JSON; beir: a BEIR folder (corpus.jsonl, queries.jsonl, qrels/)"
    )
    parser.add_argument("--data", required=True, help="SQuAD JSON file or BEIR folder")
    parser.add_argument("--limit", type=int, help="a fixed, seeded sample of N questions")
    parser.add_argument(
        "--split",
        choices=[*HALVES, "all"],
        default="eval",
        help="questions of this half of the SQuAD articles; fit only on train, report on eval (default: %(default)s); retrieval is always over every paragraph",
    )
    parser.add_argument("--no-reader", action="store_true", help="--holdout: measure abstention without the learned reader")
    parser.add_argument("--holdout", action="store_true", help="index half the articles; measure abstention")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="write a PNG of recall@k (squad without --holdout)")
    parser.add_argument(
        "--fit",
        action="store_true",
        help="also refit the model behind the defaults (sentence choice; with --holdout, abstention) and print it",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="index backend; postgres uses DATABASE_URL and replaces what that database holds (default: faiss, env QA_BACKEND)",
    )
    parser.add_argument("--work", type=Path, default=Path(".eval"), help="where corpora and indexes are cached (default: %(default)s)")
    args = parser.parse_args(argv)
    setup_logging()
    return run(lambda: evaluate(args, parser))


def evaluate(args, parser) -> int:
    from embeddings import Encoder

    config = settings.load(overrides={"backend": args.backend})
    encoder = Encoder(device=config.device)
    data = Path(args.data)
    work = args.work / (data.parent.name if data.is_file() else data.name)
    where = location(replace(config, index=work / "index")) if config.backend != "faiss" else None
    if args.dataset == "beir":
        result = eval_beir(args.data, work, encoder, args.limit, where)
    elif args.holdout:
        if where:
            parser.error("--holdout copies a FAISS index to skip embedding; run it with --backend faiss")
        result = eval_holdout(args.data, work, encoder, args.limit, args.fit, args.split, not args.no_reader)
    else:
        result = eval_squad(args.data, work, encoder, args.limit, args.fit, where, args.split)
        if args.plot:
            plot_recall(result, args.plot)
    print_table(result)
    if "fit" in result:
        print("refitted model:", json.dumps(result["fit"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
