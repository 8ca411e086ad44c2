"""Telegram: the articles themselves. Admins add one by sending a file or a link and delete one with
/remove (after a confirm button); everyone allowed to ask can list them with /articles."""

from __future__ import annotations

import asyncio
import logging
import re
from html import escape

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ContextTypes, MessageHandler, filters

from bot.telegram_send import reply, typing
from retrieval.service import Refused

log = logging.getLogger("bot.telegram")

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
PAGE_SIZE = 10
LINK = re.compile(r"^\s*https?://\S+\s*$")  # the whole message is one link
NOT_ADMIN = "Sorry, only this bot's admins can add or remove articles."
TOO_BIG = "That file is over 20 MB, more than Telegram lets a bot download. Please send a smaller one."
REMOVE_USAGE = "Send /remove N, where N is an article's number in /articles (or its file name)."
NO_ARTICLE = "There is no such article. /articles lists them."
NOTHING_PENDING = "Nothing to remove any more; send /remove again."
PENDING = "removing"  # chat_data key: the article a confirm button refers to


def register(app: Application, question_handler) -> None:
    """Adds the article handlers; a link from someone who is not an admin is a question like any other."""
    app.bot_data["question_handler"] = question_handler
    app.add_handler(CommandHandler("articles", articles))
    app.add_handler(CommandHandler("remove", remove))
    app.add_handler(MessageHandler(filters.Document.ALL, upload))
    app.add_handler(MessageHandler(filters.Regex(LINK.pattern) & ~filters.COMMAND, link))
    app.add_handler(CallbackQueryHandler(articles_page, pattern=r"^arts:\d{1,6}$"))
    app.add_handler(CallbackQueryHandler(confirm_removal, pattern=r"^rm:(yes|no)$"))


def is_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    user = update.effective_user
    return bool(user) and user.id in context.bot_data["admins"]


async def upload(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An admin's file: downloaded, checked, saved into the corpus and indexed, then its title and size."""
    message, chat_id = update.message, update.effective_chat.id
    if not is_admin(update, context):
        log.info("refused an upload from user %s in chat %s (not an admin)", update.effective_user.id, chat_id)
        await reply(context, chat_id, NOT_ADMIN, f"upload refusal to chat {chat_id}")
        return
    document = message.document
    if (document.file_size or 0) > MAX_UPLOAD_BYTES:
        await reply(context, chat_id, TOO_BIG, f"size refusal to chat {chat_id}")
        return
    try:
        async with typing(context.bot, chat_id):
            data = bytes(await (await context.bot.get_file(document.file_id)).download_as_bytearray())
            added = await asyncio.to_thread(context.bot_data["service"].add, document.file_name or "upload.txt", data)
    except TelegramError as exc:
        await reply(
            context, chat_id, f"I could not download that file ({exc.message}). Please try again.", f"download failure to chat {chat_id}"
        )
        return
    except Refused as exc:
        await reply(context, chat_id, f"Not added: {exc}", f"refused upload to chat {chat_id}")
        return
    await _added(context, chat_id, added)


async def link(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A message that is only a link: an admin's is fetched and added; anyone else's is a question."""
    if not is_admin(update, context):
        await context.bot_data["question_handler"](update, context)
        return
    chat_id = update.effective_chat.id
    try:
        async with typing(context.bot, chat_id):
            added = await asyncio.to_thread(context.bot_data["service"].add_url, update.message.text.strip())
    except Refused as exc:
        await reply(context, chat_id, f"Not added: {exc}", f"refused link to chat {chat_id}")
        return
    await _added(context, chat_id, added)


async def _added(context: ContextTypes.DEFAULT_TYPE, chat_id: int, added) -> None:
    log.info("chat %s: added %s (%d passages)", chat_id, added.article, added.passages)
    text = f"Added “{added.title}” as {added.article} ({added.passages} passage{'s' * (added.passages != 1)}). Ask me about it."
    await reply(context, chat_id, text, f"added note to chat {chat_id}")


async def articles(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    text, keyboard = await asyncio.to_thread(_page, context.bot_data["service"], 0)
    await reply(context, update.effective_chat.id, text, "/articles reply", parse_mode=ParseMode.HTML, reply_markup=keyboard)


async def articles_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    text, keyboard = await asyncio.to_thread(_page, context.bot_data["service"], int(query.data.partition(":")[2]))
    if update.effective_chat:
        await reply(context, update.effective_chat.id, text, "/articles page", parse_mode=ParseMode.HTML, reply_markup=keyboard)


def _page(service, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
    """One page of the numbered article list (the numbers /remove takes), with ◀ ▶ buttons."""
    listed = service.articles()
    pages = max(1, -(-len(listed) // PAGE_SIZE))
    page = min(page, pages - 1)
    first = page * PAGE_SIZE
    lines = [
        f"{first + i + 1}. <i>{escape(title)}</i> ({escape(article)})"
        for i, (article, title) in enumerate(listed[first : first + PAGE_SIZE])
    ]
    text = f"<b>Articles</b> ({len(listed)}, page {page + 1} of {pages})\n" + ("\n".join(lines) or "None yet.")
    buttons = [InlineKeyboardButton(label, callback_data=f"arts:{p}") for label, p in (("◀", page - 1), ("▶", page + 1)) if 0 <= p < pages]
    return text, InlineKeyboardMarkup([buttons]) if buttons else None


async def remove(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/remove N or /remove FILE (admins): asks for confirmation with a button."""
    chat_id = update.effective_chat.id
    if not is_admin(update, context):
        await reply(context, chat_id, NOT_ADMIN, f"remove refusal to chat {chat_id}")
        return
    wanted = " ".join(context.args or [])
    if not wanted:
        await reply(context, chat_id, REMOVE_USAGE, "/remove usage")
        return
    listed = await asyncio.to_thread(context.bot_data["service"].articles)
    found = _pick(listed, wanted)
    if found is None:
        await reply(context, chat_id, NO_ARTICLE, "/remove reply")
        return
    context.chat_data[PENDING] = found[0]
    keyboard = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Remove", callback_data="rm:yes"), InlineKeyboardButton("Keep", callback_data="rm:no")]]
    )
    text = f"Remove <i>{escape(found[1])}</i> ({escape(found[0])})? Its file is deleted from the corpus."
    await reply(context, chat_id, text, "/remove confirmation", parse_mode=ParseMode.HTML, reply_markup=keyboard)


def _pick(listed: list[tuple[str, str]], wanted: str) -> tuple[str, str] | None:
    if wanted.isdigit():
        return listed[int(wanted) - 1] if 1 <= int(wanted) <= len(listed) else None
    return next((item for item in listed if item[0] == wanted), None)


async def confirm_removal(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if not is_admin(update, context):
        await query.answer(NOT_ADMIN)
        return
    article = (context.chat_data or {}).pop(PENDING, None)
    if article is None or update.effective_chat is None:
        await query.answer(NOTHING_PENDING)
        return
    await query.answer()
    chat_id = update.effective_chat.id
    if query.data == "rm:no":
        await reply(context, chat_id, f"Kept {article}.", "/remove kept")
        return
    removed = await asyncio.to_thread(context.bot_data["service"].remove, article)
    log.info("chat %s: removed %s (%s)", chat_id, article, "done" if removed else "already gone")
    await reply(context, chat_id, f"Removed {article}." if removed else NO_ARTICLE, "/remove done")
