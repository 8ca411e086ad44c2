"""The Telegram bot: `python -m bot.telegram` answers questions about the articles, citing its passages.

python-telegram-bot 22, long polling. Answers are made off the event loop, so one slow answer never
holds up another chat; each chat keeps its own conversation for follow-ups.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import signal
import sys
import time
from contextlib import suppress
from dataclasses import dataclass

from telegram import BotCommand, Message, MessageEntity, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import telegram_articles
from bot.telegram_html import SourceRef, render_answer, render_passage, render_sources, source_keyboard, split_html
from bot.telegram_send import MAX_BACKOFF_S, deliver, reply, typing
from retrieval import settings
from retrieval.cli import run, setup_logging
from retrieval.conversation import Conversation
from retrieval.errors import IndexProblem, SetupError
from retrieval.secrets import protect
from retrieval.service import Service
from retrieval.settings import Settings

log = logging.getLogger("bot.telegram")  # the same name when run as __main__

UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
SIGNALS = (signal.SIGINT, signal.SIGTERM)
ANSWER_THREADS = 2  # answers are CPU-bound: a couple at a time keeps torch from oversubscribing the cores

COMMANDS = [
    BotCommand("start", "What this bot does"),
    BotCommand("help", "How to ask questions"),
    BotCommand("sources", "The passages behind my last answer"),
    BotCommand("reset", "Forget this chat's conversation"),
    BotCommand("articles", "The articles I answer from"),
]
START = (
    "Hello! I answer questions about a set of news articles. Every answer is quoted word for word "
    "from them, with numbered sources: press a source's button to read the whole passage.\n\n"
    "Ask me something, or send /help."
)
HELP = (
    "Ask a question in plain words, for example “Who is mentioned in the articles?”. "
    "Follow-up questions like “What did she say?” refer to the last topic.\n\n"
    "/sources – the passages behind my last answer\n"
    "/reset – start a new conversation\n"
    "/articles – the articles I answer from\n"
    "Admins: send a file (.txt .md .html .pdf .docx, up to 20 MB) or a link to add an article; /remove N deletes one.\n\n"
    "In a group, mention me or reply to one of my messages."
)
NO_SOURCES = "I haven't quoted any sources in this chat yet. Ask a question first."
RESET = "Done: I've forgotten our conversation. Ask me anything."
CHANGED = "This source has changed since that answer; please ask again."
REFUSED = "Sorry, this bot is private and can't answer you here."
FAILED = "Sorry, something went wrong while answering. Please try again in a moment."
NO_CHAT = "Open a chat with me to read the sources."
UNAVAILABLE = "The articles are unavailable for a moment (their database is not answering). Please ask again shortly."
NO_TOKEN = "TELEGRAM_BOT_TOKEN is not set; get a token from @BotFather and put it in the environment or .env"
UNKNOWN_BUTTON = "This button no longer works; please ask again."


@dataclass(frozen=True)
class Access:
    """Optional allowlists. Empty means everyone; otherwise a listed user or a listed chat gets in."""

    users: frozenset[int] = frozenset()
    chats: frozenset[int] = frozenset()

    def allows(self, user_id: int | None, chat_id: int | None) -> bool:
        if not self.users and not self.chats:
            return True
        return user_id in self.users or chat_id in self.chats

    @classmethod
    def of(cls, config: Settings) -> Access:
        return cls(config.telegram_allowed_users, config.telegram_allowed_chats)


def api_urls(base: str) -> tuple[str, str]:
    """Bot API and file URLs for a server root such as http://localhost:8081 (a trailing /bot is fine)."""
    root = base.rstrip("/").removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


# --- the token stays out of logs ----------------------------------------------------------------


def protect_token(token: str) -> None:
    """httpx logs request URLs, which contain the token: it is quietened, and the token's secret part
    is starred out of every log record from now on (`retrieval.secrets`)."""
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    protect(token.partition(":")[2] or token)


# --- handlers -----------------------------------------------------------------------------------


def addressed(update: Update, bot) -> bool:
    """In private chats everything is for the bot; in groups only its commands, @mentions and replies to it."""
    message = update.message
    if message is None or message.chat.type == ChatType.PRIVATE:
        return True
    replied = message.reply_to_message
    if replied and replied.from_user and replied.from_user.id == bot.id:
        return True
    me = bot.username.lower()
    for entity, text in message.parse_entities([MessageEntity.MENTION, MessageEntity.BOT_COMMAND]).items():
        if entity.type == MessageEntity.MENTION and text[1:].lower() == me:
            return True
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            target = text.partition("@")[2].lower()
            return target in ("", me)
    return False


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Runs before every handler: drops group chatter not meant for the bot, refuses strangers once."""
    if not addressed(update, context.bot):
        raise ApplicationHandlerStop
    user, chat = update.effective_user, update.effective_chat
    if context.bot_data["access"].allows(user and user.id, chat and chat.id):
        return
    log.info("refused user %s in chat %s (not in the allowlists)", user and user.id, chat and chat.id)
    if update.callback_query:
        await update.callback_query.answer(REFUSED)
    elif chat and chat.id not in context.bot_data["refused"]:
        context.bot_data["refused"].add(chat.id)
        await reply(context, chat.id, REFUSED, f"refusal to chat {chat.id}")
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(context, update.effective_chat.id, START, "/start reply")


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply(context, update.effective_chat.id, HELP, "/help reply")


async def reset(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    async with _chat_lock(context):
        _conversation(context).reset()
    await reply(context, update.effective_chat.id, RESET, "/reset reply")


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The sources of the chat's last cited answer again, with their buttons."""
    turns = reversed(_conversation(context).turns)
    citations = next((t.answer.citations for t in turns if getattr(t.answer, "citations", ())), ())
    chat_id = update.effective_chat.id
    if not citations:
        await reply(context, chat_id, NO_SOURCES, "/sources reply")
        return
    await reply(
        context, chat_id, render_sources(citations), "/sources reply", parse_mode=ParseMode.HTML, reply_markup=source_keyboard(citations)
    )


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answers one message; questions in the same chat are answered in order, other chats in parallel."""
    message = update.message
    text = _without_mention(message.text, context.bot.username)
    started = time.perf_counter()
    async with _chat_lock(context):
        try:
            async with typing(context.bot, message.chat_id), context.bot_data["answer_slots"]:
                answer = await asyncio.to_thread(context.bot_data["service"].ask, text, _conversation(context))
        except IndexProblem as exc:  # the database is down: say so at once, answer again when it is back
            log.error("chat %s: %s", message.chat_id, exc)
            await reply(context, message.chat_id, UNAVAILABLE, f"unavailable note to chat {message.chat_id}")
            return
        await send_answer(context, message, answer)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    log.info("chat %s: %s with %d citation(s) in %.0f ms", message.chat_id, answer.kind, len(answer.citations), elapsed_ms)


async def show_source(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A source button: the whole passage, the quoted sentence in bold."""
    query = update.callback_query
    if update.effective_chat is None:  # a button on an inline message: there is no chat to write to
        await query.answer(NO_CHAT)
        return
    await query.answer()
    ref = SourceRef.parse(query.data)
    passage = await asyncio.to_thread(context.bot_data["service"].passage, ref.chunk_id, ref.start, ref.end) if ref else None
    chat_id = update.effective_chat.id
    if passage is None:
        log.info("chat %s: stale or unknown source button %r", chat_id, query.data)
        await reply(context, chat_id, CHANGED, f"stale-source note to chat {chat_id}")
        return
    html = render_passage(ref.n, passage.title, passage.text, ref.start - passage.start, ref.end - passage.start)
    for piece in split_html(html):
        await reply(context, chat_id, piece, f"source passage to chat {chat_id}", parse_mode=ParseMode.HTML)


async def unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any other button data (an old bot's, or forged): stop the spinner and say so."""
    log.info("unknown button data %r", update.callback_query.data)
    await update.callback_query.answer(UNKNOWN_BUTTON)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Logs the failure with its traceback and tells the user something went wrong, without internals."""
    log.error("handling update %s failed", getattr(update, "update_id", update), exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat:
        with suppress(TelegramError):
            await context.bot.send_message(chat.id, FAILED)


async def send_answer(context: ContextTypes.DEFAULT_TYPE, message: Message, answer) -> None:
    """The answer in as many messages as it needs; the source buttons go under the last one. Each
    piece is retried until the Bot API takes it (`deliver`)."""
    pieces = split_html(render_answer(answer))
    for i, piece in enumerate(pieces, 1):
        keyboard = source_keyboard(answer.citations) if i == len(pieces) else None
        what = f"answer to chat {message.chat_id} (part {i} of {len(pieces)})"
        await deliver(lambda p=piece, k=keyboard: message.reply_html(p, reply_markup=k), what, context.bot_data["send_deadline"])


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    return context.chat_data.setdefault("conversation", Conversation())


def _chat_lock(context: ContextTypes.DEFAULT_TYPE) -> asyncio.Lock:
    return context.chat_data.setdefault("lock", asyncio.Lock())


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"@{re.escape(username)}\b", " ", text, flags=re.I).strip()


# --- wiring and running -------------------------------------------------------------------------


async def register_commands(app: Application) -> None:
    """post_init: the command menu Telegram shows next to the message box."""
    try:
        await app.bot.set_my_commands(COMMANDS)
    except TelegramError as exc:  # the bot works without its menu
        log.warning("could not register the command menu (%s)", exc)


def build_application(service: Service, config: Settings, answer_threads: int = ANSWER_THREADS) -> Application:
    """The whole bot, wired: handlers, flood-limit retries, concurrent updates, error handler."""
    if not config.telegram_bot_token:
        raise SetupError(NO_TOKEN)
    protect_token(config.telegram_bot_token)
    builder = (
        Application.builder()
        .token(config.telegram_bot_token)
        .concurrent_updates(True)
        .rate_limiter(AIORateLimiter(max_retries=3))  # the default, 0, drops a message on a 429
        .post_init(register_commands)
    )
    if config.telegram_api_base_url:
        api, files = api_urls(config.telegram_api_base_url)
        builder = builder.base_url(api).base_file_url(files)
    app = builder.build()
    app.bot_data.update(
        service=service,
        access=Access.of(config),
        refused=set(),
        answer_slots=asyncio.Semaphore(answer_threads),
        send_deadline=config.telegram_send_deadline_s,
        admins=config.telegram_admin_users,
    )
    app.add_handler(TypeHandler(Update, gate), group=-1)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))
    app.add_handler(CommandHandler("sources", sources))
    app.add_handler(CommandHandler("reset", reset))
    telegram_articles.register(app, question)  # before questions: an admin's link adds an article
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, question))
    app.add_handler(CallbackQueryHandler(show_source, pattern=r"^src:"))
    app.add_handler(CallbackQueryHandler(unknown_button))
    app.add_error_handler(on_error)
    return app


async def serve(app: Application, stop: asyncio.Event, poll_timeout: float = 10) -> None:
    """Runs the bot until `stop` is set: connect, register commands, long-poll, then shut down cleanly.

    The same steps as `Application.run_polling`, done by hand because its startup retries log only
    at DEBUG (a bot waiting for the network would look hung) and so that tests drive this exact path.
    """
    if not await _connect(app, stop):
        return
    async with app:  # already initialised; shuts down on the way out
        await app.post_init(app)
        await app.updater.start_polling(timeout=poll_timeout, bootstrap_retries=-1, allowed_updates=UPDATES, error_callback=_polling_failed)
        await app.start()
        log.info("@%s is answering (stop with Ctrl-C)", app.bot.username)
        try:
            await stop.wait()
        finally:
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()


async def _connect(app: Application, stop: asyncio.Event) -> bool:
    """getMe until it works, with backoff while the Bot API is unreachable; False if stopped first."""
    delay = 1.0
    while not stop.is_set():
        try:
            await app.initialize()
            return True
        except NetworkError as exc:  # InvalidToken is not a NetworkError: it ends the run
            log.warning("Bot API unreachable (%s); retrying in %.0f s", exc, delay)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(2 * delay, MAX_BACKOFF_S)
    return False


def _polling_failed(exc: TelegramError) -> None:
    log.warning("getting updates failed (%s); retrying with backoff", exc)


async def _serve_until_signalled(app: Application) -> None:
    """SIGINT/SIGTERM stop the bot gracefully; a second one quits at once (startup may be retrying)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        log.info("stop requested (Ctrl-C again to quit at once)")
        stop.set()
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)

    for sig in SIGNALS:
        loop.add_signal_handler(sig, on_signal)
    await serve(app, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.telegram",
        description="Answers questions about the articles in Telegram, quoting and citing its sources.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "environment (or .env; .env.example lists every setting):\n"
            "  TELEGRAM_BOT_TOKEN      required: the token @BotFather gave you\n"
            "  TELEGRAM_API_BASE_URL   Bot API server (default https://api.telegram.org)\n"
            "  TELEGRAM_ALLOWED_USERS  comma-separated user ids allowed to ask (default: everyone)\n"
            "  TELEGRAM_ALLOWED_CHATS  comma-separated chat ids allowed to ask (default: everyone)\n"
            "  TELEGRAM_ADMIN_USERS    comma-separated user ids who may add and /remove articles (default: nobody)\n"
            "  TELEGRAM_SEND_DEADLINE_S  how long an answer is retried while the Bot API fails (default 300)"
        ),
    )
    settings.add_options(parser, serving=True)
    args = parser.parse_args(argv)
    setup_logging()
    return run(lambda: _serve(args))


def _serve(args) -> int:
    config = settings.from_args(args)
    if not config.telegram_bot_token:  # before the index update, which can take minutes
        raise SetupError(NO_TOKEN)
    service = Service.start(config, update=not args.no_update)
    if not args.no_watch and not args.no_update:
        service.watch()
        log.info("watching %s for new, edited and deleted articles", config.corpus)
    app = build_application(service, config)
    try:
        asyncio.run(_serve_until_signalled(app))
    except KeyboardInterrupt:
        return 130
    except InvalidToken:
        raise SetupError("Telegram rejected TELEGRAM_BOT_TOKEN; check it with @BotFather (/mybots → API Token)") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
