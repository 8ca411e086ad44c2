"""Time to first reply in Telegram: one chat alone vs 20 chats asking at once, in the same run.

Drives the real bot (PTB, HTTP, flood-limit handling, answering off the event loop) through the
fake Bot API in tests/, over the seed corpus. Time to first reply = from queuing the user's message
to the bot's answer arriving at the API. The ratio says what a crowd costs each user; the same crowd
answered with no bot at all shows how much of that is answering itself.

    python bench/telegram_concurrency.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_bot_api import TOKEN, FakeBotAPI  # noqa: E402

from bot.telegram import ANSWER_THREADS, build_application, serve  # noqa: E402
from retrieval.service import Service  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

QUESTIONS = [
    "Who is Aram Hamparian?",
    "What did Kim Kardashian ask her followers?",
    "Who won the 2018 World Cup?",
    "Who trace their ancestry to Armenia?",
]
CROWD = 20


async def ask(api: FakeBotAPI, chats: list[int], round_: int) -> list[float]:
    """Everyone in `chats` asks at once; seconds until each chat's first reply."""
    before = {chat: len(api.sent(chat)) for chat in chats}
    started = time.monotonic()
    for chat in chats:
        api.send(chat, QUESTIONS[(chat + round_) % len(QUESTIONS)])
    while not all(len(api.sent(chat)) > before[chat] for chat in chats):
        await asyncio.sleep(0.002)
    return [api.sent(chat)[before[chat]].at - started for chat in chats]


async def answer_only(service, rounds: int) -> list[float]:
    """The same crowd answered without Telegram (two at a time, as the bot does): what CPU alone costs."""
    slots = asyncio.Semaphore(ANSWER_THREADS)

    async def one(question: str, started: float) -> float:
        async with slots:
            await asyncio.to_thread(service.ask, question, None)
        return time.monotonic() - started

    samples = []
    for round_ in range(rounds):
        started = time.monotonic()
        samples += await asyncio.gather(*(one(QUESTIONS[(chat + round_) % len(QUESTIONS)], started) for chat in range(CROWD)))
    return samples


def percentiles(samples: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49], cuts[94]


async def measure(service, rounds: int) -> dict[str, list[float]]:
    with FakeBotAPI() as api:
        config = Settings(corpus=ROOT / "seeds", telegram_bot_token=TOKEN, telegram_api_base_url=api.url)
        app = build_application(service, config)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, stop, poll_timeout=10))
        while not app.running:
            await asyncio.sleep(0.01)
        await ask(api, [1], 0)  # warm-up
        alone, crowd = [], []
        for round_ in range(rounds):
            for i in range(CROWD):  # as many single questions as the crowd asks, one at a time
                alone += await ask(api, [1], round_ * CROWD + i)
            await asyncio.sleep(1.1)  # a fresh second for Telegram's 30 messages/s flood limit
            crowd += await ask(api, list(range(100, 100 + CROWD)), round_)
            await asyncio.sleep(1.1)
        stop.set()
        await task
        if api.failed():
            raise SystemExit(f"the fake Bot API refused {len(api.failed())} call(s)")
        return {"1 chat alone": alone, f"{CROWD} chats at once": crowd}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help=f"rounds of {CROWD} questions each way (default %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-telegram-") as folder:
        service = Service.start(Settings(corpus=ROOT / "seeds", index=Path(folder)))  # what `python -m bot.telegram` runs
        results = asyncio.run(measure(service, args.rounds))
        results[f"{CROWD} answers, no bot"] = asyncio.run(answer_only(service, args.rounds))
        service.close()

    print(f"time to first reply, seed corpus, {args.rounds} rounds (fake Bot API on 127.0.0.1, AIORateLimiter defaults)")
    rows = {name: percentiles(samples) for name, samples in results.items()}
    for name, (p50, p95) in rows.items():
        print(f"  {name:<21} n={len(results[name]):<4} p50 {1000 * p50:7.1f} ms   p95 {1000 * p95:7.1f} ms")
    (a50, a95), (c50, c95), _ = rows.values()
    print(f"  ratio (crowd / alone): p50 {c50 / a50:.1f}x   p95 {c95 / a95:.1f}x")


if __name__ == "__main__":
    main()
