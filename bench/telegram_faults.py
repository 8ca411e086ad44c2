"""Answers delivered while the Bot API misbehaves: 500 questions from 50 chats under a fault mix.

The mix: 30 % of sendMessage calls answered 429 (retry after 2 s) for 20 s, 10 % answered 502 for
15 s, and 50 % of getUpdates answered 502 for 10 s. The real bot (PTB over HTTP, the seed corpus)
runs against the fake Bot API in tests/. Every question should get exactly one answer, replying to
it; the same run without faults is the baseline for the time it takes.

    python bench/telegram_faults.py [--chats 50] [--per-chat 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fake_bot_api import TOKEN, FakeBotAPI  # noqa: E402

from bot.telegram import build_application, serve  # noqa: E402
from retrieval.service import Service  # noqa: E402
from retrieval.settings import Settings  # noqa: E402

QUESTIONS = [
    "Who is Aram Hamparian?",
    "What did Kim Kardashian ask her followers?",
    "Who won the 2018 World Cup?",
    "Who trace their ancestry to Armenia?",
    "When did Kardashian West share the ANCA link?",
]


def weather(api: FakeBotAPI) -> None:
    api.fail_randomly("sendMessage", 0.30, 429, 20, retry_after=2)
    api.fail_randomly("sendMessage", 0.10, 502, 15)
    api.fail_randomly("getUpdates", 0.50, 502, 10)


async def run(service, chats: int, per_chat: int, faults: bool, timeout: float) -> dict:
    with FakeBotAPI() as api:
        config = Settings(corpus=ROOT / "seeds", telegram_bot_token=TOKEN, telegram_api_base_url=api.url)
        app = build_application(service, config)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, stop, poll_timeout=10))
        while not app.running:
            await asyncio.sleep(0.01)
        if faults:
            weather(api)
        started = time.monotonic()
        for i in range(per_chat):
            for c in range(chats):
                api.send(1000 + c, QUESTIONS[(c + i) % len(QUESTIONS)])
        deadline = started + timeout
        while time.monotonic() < deadline and len(api.sent()) < chats * per_chat:
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        await asyncio.sleep(1.0)  # late duplicates would show up now
        stop.set()
        await task
        # Answers fit one message each, so a chat is owed exactly as many messages as it asked.
        per_chat_sent = collections.Counter(call.chat_id for call in api.sent())
        failed = collections.Counter(f"{c.method} {c.status}" for c in api.failed())
    return {
        "asked": chats * per_chat,
        "answered": sum(min(per_chat_sent[1000 + c], per_chat) for c in range(chats)),
        "duplicated": sum(max(per_chat_sent[1000 + c] - per_chat, 0) for c in range(chats)),
        "seconds": elapsed,
        "faults": dict(failed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--per-chat", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for every answer (default %(default)s)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as folder:
        service = Service.start(Settings(corpus=ROOT / "seeds", index=Path(folder)))  # what `python -m bot.telegram` runs
        rows = {
            name: asyncio.run(run(service, args.chats, args.per_chat, faults, args.timeout))
            for name, faults in (("no faults", False), ("fault mix", True))
        }
        service.close()
    print(f"{args.chats * args.per_chat} questions from {args.chats} chats, seed corpus, fake Bot API on 127.0.0.1")
    for name, r in rows.items():
        print(
            f"  {name:<10} answered {r['answered']}/{r['asked']}  duplicated {r['duplicated']}  in {r['seconds']:.1f} s  faults injected: {r['faults'] or 'none'}"
        )
    base, mix = rows["no faults"], rows["fault mix"]
    print(f"  time under faults / without: {mix['seconds'] / base['seconds']:.1f}x")


if __name__ == "__main__":
    main()
