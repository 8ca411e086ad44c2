"""A live corpus: how soon a new, edited or deleted article shows in answers while the bot runs, and
what an update costs the questions other chats ask meanwhile.

Two folders: the seeds, and 2,000 articles made of SQuAD v1.1 dev paragraphs (one paragraph per
file). Each starts as the bot starts (`Service.start`: the index is built with the real model and
the ONNX models exported) and then watches its folder (`Service.watch`). Then, `--rounds` times:
a new article is written, then edited (a new fact), then deleted, and after each change the same
question is asked until the answer shows the change ("seconds to answer"). All the while another
thread asks the folder's own questions back to back, like another chat; its latencies while an
update runs are compared with the same thread's latencies when no update runs (the baseline,
measured first, in the same process).

    python bench/live_update.py [--rounds 5] [--articles 2000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from retrieval.service import Service  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

SQUAD_JSON = ROOT.parent / "shared/eval/squad-v1.1/dev-v1.1.json"
SEED_QUESTIONS = ["Who is Aram Hamparian?", "What is the capital of Armenia?", "Who is Eric Esrailian?", "Who won the 2018 World Cup?"]
LIMIT_S = 30.0


def squad_folder(folder: Path, articles: int) -> list[str]:
    """One file per SQuAD dev paragraph (title line, then the paragraph); returns its questions."""
    folder.mkdir(parents=True)
    questions = []
    paragraphs = [(a["title"], p) for a in json.loads(SQUAD_JSON.read_text(encoding="utf-8"))["data"] for p in a["paragraphs"]]
    for i, (title, paragraph) in enumerate(paragraphs[:articles]):
        (folder / f"{i:04d}.txt").write_text(f"{title.replace('_', ' ')} ({i})\n\n{paragraph['context'].strip()}\n", encoding="utf-8")
        questions += [qa["question"] for qa in paragraph["qas"][:1]]
    return questions


class Chat(threading.Thread):
    """Another chat: asks its questions back to back, timing each."""

    def __init__(self, service: Service, questions: list[str]):
        super().__init__(daemon=True)
        self.service, self.questions, self.samples, self.stop = service, questions, [], threading.Event()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            started = time.monotonic()
            self.service.ask(self.questions[i % len(self.questions)])
            self.samples.append((started, time.monotonic()))
            i += 1


def wait_for(service: Service, question: str, shows) -> float:
    started = time.monotonic()
    while not shows(service.ask(question)):
        if time.monotonic() - started > LIMIT_S:
            return float("inf")
        time.sleep(0.05)
    return time.monotonic() - started


def one_round(service: Service, corpus: Path, n: int) -> list[float]:
    """New, edited, deleted: seconds until each change shows in the answer."""
    path = corpus / f"zz-live-{n}.txt"
    question = f"What colour is the Quorvex-{n} lighthouse?"
    path.write_text(f"Quorvex-{n} news\n\nThe Quorvex-{n} lighthouse is painted bright crimson.\n", encoding="utf-8")
    new = wait_for(service, question, lambda a: "crimson" in a.text)
    path.write_text(f"Quorvex-{n} news\n\nThe Quorvex-{n} lighthouse is painted deep turquoise.\n", encoding="utf-8")
    edited = wait_for(service, question, lambda a: "turquoise" in a.text)
    path.unlink()
    deleted = wait_for(service, question, lambda a: "Quorvex" not in a.text)
    return [new, edited, deleted]


def measure(name: str, corpus: Path, questions: list[str], rounds: int) -> None:
    index = Path(tempfile.mkdtemp(prefix="bench-live-index-"))
    started = time.monotonic()
    service = Service.start(Settings(corpus=corpus, index=index), progress=sys.stderr.isatty())
    print(
        f"{name}: {service.stats().articles} articles, {service.stats().passages} passages; start-up (first build) {time.monotonic() - started:.0f} s",
        flush=True,
    )
    updates: list[tuple[float, float]] = []
    update = service.update

    def timed_update():
        began = time.monotonic()
        try:
            return update()
        finally:
            updates.append((began, time.monotonic()))

    service.update = timed_update
    chat = Chat(service, questions)
    chat.start()
    time.sleep(10)  # the baseline: no update runs
    service.watch()
    time.sleep(1)
    seconds = [s for n in range(rounds) for s in one_round(service, corpus, n)]
    chat.stop.set()
    chat.join()
    service.close()
    shutil.rmtree(index, ignore_errors=True)
    report(seconds, chat.samples, updates)


def report(seconds: list[float], samples: list[tuple[float, float]], updates: list[tuple[float, float]]) -> None:
    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20, method="inclusive")[-1] * 1000 if len(values) > 1 else float("nan")

    during = [e - s for s, e in samples if any(s < ue and e > us for us, ue in updates)]
    quiet = [e - s for s, e in samples if s < updates[0][0]] if updates else []
    print(
        f"  seconds until a change shows (new, edited, deleted x {len(seconds) // 3}): p50 {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s"
    )
    print(
        f"  updates: {len(updates)}, each {statistics.median([e - s for s, e in updates]):.2f} s (median)" if updates else "  updates: none"
    )
    print(
        f"  another chat's questions: without an update p95 {p95(quiet):.0f} ms (n={len(quiet)}); during one p95 {p95(during):.0f} ms (n={len(during)}); ratio {p95(during) / p95(quiet):.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="new/edit/delete rounds per folder (default %(default)s)")
    parser.add_argument("--articles", type=int, default=2000, help="articles in the SQuAD folder (default %(default)s; 0 skips it)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-live-"))
    try:
        shutil.copytree(ROOT / "seeds", work / "seeds")
        measure("seeds", work / "seeds", SEED_QUESTIONS, args.rounds)
        if args.articles and SQUAD_JSON.exists():
            questions = squad_folder(work / "squad", args.articles)
            measure("SQuAD paragraphs", work / "squad", questions, args.rounds)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
