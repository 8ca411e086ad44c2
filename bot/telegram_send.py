"""Sending to Telegram: an answer made is an answer sent, and "typing…" while it is made."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager, suppress

from telegram.constants import ChatAction
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError
from telegram.ext import ContextTypes

log = logging.getLogger("bot.telegram")

TYPING_RENEW_S = 4.5  # Telegram shows "typing…" for 5 s per chat action
MAX_BACKOFF_S = 30.0


async def deliver(send, what: str, deadline_s: float):
    """Awaits `send()` until the Bot API takes it: every retry_after is waited out, network errors and
    5xx back off (1, 2, 4 … 30 s). Gives up only after `deadline_s`, logging what was dropped; a
    request Telegram refuses outright (400, 403) is not retried."""
    started, delay = time.monotonic(), 1.0
    while True:
        try:
            return await send()
        except RetryAfter as exc:
            wait, reason = _seconds(exc.retry_after) + 0.1, "flood limit"
        except BadRequest:
            raise
        except NetworkError as exc:  # TimedOut, 5xx, connection errors
            wait, reason = delay, str(exc)
            delay = min(2 * delay, MAX_BACKOFF_S)
        if time.monotonic() - started + wait > deadline_s:
            log.error("dropped %s: the Bot API did not take it within %.0f s (%s)", what, deadline_s, reason)
            return None
        log.warning("sending %s failed (%s); retrying in %.1f s", what, reason, wait)
        await asyncio.sleep(wait)


def _seconds(value) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


async def reply(context: ContextTypes.DEFAULT_TYPE, chat_id: int, text: str, what: str, **options) -> None:
    """A message the user must get, sent through `deliver` with the configured deadline."""
    await deliver(lambda: context.bot.send_message(chat_id, text, **options), what, context.bot_data["send_deadline"])


@asynccontextmanager
async def typing(bot, chat_id: int):
    """Shows "typing…" while the block runs, renewing it until the answer is ready."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(TYPING_RENEW_S)
            with suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)

    try:
        await bot.send_chat_action(chat_id, ChatAction.TYPING)
    except TelegramError as exc:  # cosmetic: never worth losing the answer over
        log.warning("chat %s: typing indicator failed (%s)", chat_id, exc)
    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
