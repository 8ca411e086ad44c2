"""The Telegram bot end to end: real PTB, real HTTP, a fake Bot API that checks what it is sent."""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from contextlib import asynccontextmanager
from html import escape

import pytest
from fake_bot_api import TOKEN, FakeBotAPI, parse_html, utf16_length
from fake_encoder import fake_answerer
from telegram.error import InvalidToken

from bot import telegram as tg
from bot.telegram_html import render_answer, render_passage, split_html
from retrieval.answer import Answer, Answerer, Citation
from retrieval.service import Service
from retrieval.settings import Settings

QUESTION = "Who is Aram Hamparian?"
UNANSWERABLE = "Who won the 2018 World Cup?"
SECRET = TOKEN.partition(":")[2]

# PTB's own RetryAfter warns, on every 429, that its retry_after will become a timedelta; the bot never reads it.
pytestmark = pytest.mark.filterwarnings("ignore:.*retry_after.*:DeprecationWarning")

# Sentences of hyphen-joined phrases (one "word" each): one sentence is over 4,096 characters, an answer ~14,000.
PHRASES = [
    "Zorblat-lighthouse-keepers-guard-the-northern-coast",
    "the-keepers-light-the-lamp-every-night-at-dusk",
    "ships-pass-the-rocks-safely-thanks-to-the-keepers",
    "the-lighthouse-was-built-by-Ada-Quist-long-ago",
]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


async def until(predicate, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.01)
    return result


async def replies(api: FakeBotAPI, chat_id: int, n: int = 1, method: str = "sendMessage"):
    """The first n successful `method` calls to chat_id, waiting for them."""
    return (await until(lambda: len(api.sent(chat_id, method)) >= n and api.sent(chat_id, method)))[:n]


def application(answerer, url: str, token: str = TOKEN, encoder=None, **settings):
    config = Settings(telegram_bot_token=token, telegram_api_base_url=url, **settings)
    return tg.build_application(Service(config, answerer, encoder), config)


@asynccontextmanager
async def running(api: FakeBotAPI, answerer, **settings):
    """The bot, served exactly as `python -m bot.telegram` serves it, polling with a 1 s timeout."""
    app = application(answerer, api.url, api.token, **settings)
    stop = asyncio.Event()
    task = asyncio.create_task(tg.serve(app, stop, poll_timeout=1))
    await until(lambda: task.done() or app.running)
    if task.done():
        task.result()
    try:
        yield app
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def plain(call) -> str:
    return parse_html(call.params["text"])


def buttons(call) -> list[dict]:
    return [b for row in call.params.get("reply_markup", {}).get("inline_keyboard", []) for b in row]


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


@pytest.fixture(scope="module")
def long_answerer(tmp_path_factory, encoder):
    """An index whose passages and answers are far over Telegram's limit."""
    from retrieval.index import build

    corpus = tmp_path_factory.mktemp("long-corpus")
    folder = tmp_path_factory.mktemp("long-index")

    def sentence(i: int) -> str:
        return "The Zorblat lighthouse keepers guard the northern coast: " + " ".join(PHRASES[(i + j) % 4] for j in range(95)) + "."

    body = "\n\n".join(" ".join(sentence(3 * p + s) for s in range(3)) for p in range(2))
    (corpus / "zorblat.txt").write_text("The Zorblat lighthouse keepers & <friends>\n\n" + body + "\n", encoding="utf-8")
    build(corpus, folder, encoder=encoder)
    return fake_answerer(folder, encoder)


# --- startup, questions, sources -----------------------------------------------------------------


def test_startup_then_a_question_gets_a_cited_answer_and_a_button_shows_the_passage(api, seed_answerer):
    async def scenario():
        async with running(api, seed_answerer):
            api.send(11, QUESTION)
            (answer,) = await replies(api, 11)
            button = buttons(answer)[0]
            api.press(answer.result, button["callback_data"])
            (_, passage) = await replies(api, 11, 2)
            return answer, button, passage

    answer, button, passage = run(scenario())
    assert [c.method for c in api.calls[:4]] == ["getMe", "setMyCommands", "deleteWebhook", "getUpdates"]
    assert [c["command"] for c in api.sent(method="setMyCommands")[0].params["commands"]] == [
        "start",
        "help",
        "sources",
        "reset",
        "articles",
    ]
    expected = seed_answerer.ask(QUESTION)
    citation = expected.citations[0]
    text = plain(answer)
    assert "Aram Hamparian" in text and "[1]" in text and citation.title in text
    assert answer.params["parse_mode"] == "HTML"
    assert button["text"].startswith("[1] ") and len(button["callback_data"].encode()) <= 64
    assert api.sent(method="answerCallbackQuery")
    assert " ".join(citation.passage.split()) in " ".join(plain(passage).split())
    assert f"<b>{escape(citation.quote)}</b>" in passage.params["text"]
    typing = api.sent(11, "sendChatAction")
    assert typing and typing[0].params["action"] == "typing" and typing[0].at <= answer.at


def test_unanswerable_question_is_declined_without_buttons(api, faiss_answerer):
    async def scenario():
        async with running(api, faiss_answerer):
            api.send(12, UNANSWERABLE)
            return (await replies(api, 12))[0]

    reply = run(scenario())
    assert plain(reply) == faiss_answerer.ask(UNANSWERABLE).text
    assert "reply_markup" not in reply.params


def test_commands_start_help_sources_reset(api, faiss_answerer):
    async def scenario():
        async with running(api, faiss_answerer) as app:
            for n, text in enumerate(["/start", "/help", "/sources", QUESTION, "/sources", "/reset"], 1):
                api.send(13, text)
                await replies(api, 13, n)
            return app.chat_data[13]["conversation"]

    conversation = run(scenario())
    start, help_, none, answer, sources, reset = api.sent(13)
    assert plain(start) == tg.START and plain(help_) == tg.HELP and plain(none) == tg.NO_SOURCES
    assert plain(sources).startswith("Sources") and buttons(sources) == buttons(answer)
    assert plain(reset) == tg.RESET and not conversation.turns


def test_each_chat_keeps_its_own_conversation(api, faiss_answerer):
    async def scenario():
        async with running(api, faiss_answerer) as app:
            api.send(21, QUESTION)
            await replies(api, 21)
            api.send(21, "What did he say?")
            api.send(22, "What did he say?")
            await replies(api, 21, 2)
            await replies(api, 22)
            return app.chat_data[21]["conversation"], app.chat_data[22]["conversation"]

    first, second = run(scenario())
    assert len(first.turns) == 2 and "Hamparian" in first.turns[-1].query  # the follow-up borrowed the topic
    assert len(second.turns) == 1 and second.turns[0].query == "What did he say?"  # nothing leaked


def test_a_button_from_before_a_reindex_gets_a_polite_answer(api, tmp_path, encoder):
    from retrieval.index import build

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    article = corpus / "lighthouse.txt"
    article.write_text("Lighthouse news\n\nThe Zorblat lighthouse was built in 1887 by Ada Quist. It still stands.\n", encoding="utf-8")
    build(corpus, index, encoder=encoder)

    async def scenario():
        async with running(api, fake_answerer(index, encoder)):
            api.send(31, "Who built the Zorblat lighthouse?")
            (answer,) = await replies(api, 31)
        article.write_text("Lighthouse news\n\nThe Zorblat lighthouse was built in 1888 by Ada Quist. It still stands.\n", encoding="utf-8")
        build(corpus, index, encoder=encoder)  # what `python -m bot.telegram` does when it restarts
        async with running(api, fake_answerer(index, encoder)):
            api.press(answer.result, buttons(answer)[0]["callback_data"])
            api.press(answer.result, "src:1:0123456789abcdef:0:99999")  # forged
            return await replies(api, 31, 3)

    answer, stale, forged = run(scenario())
    assert "Ada Quist" in plain(answer)
    assert plain(stale) == plain(forged) == tg.CHANGED


# --- long texts and hostile input ----------------------------------------------------------------


def test_long_answers_and_passages_are_split_into_valid_messages(api, long_answerer):
    expected = long_answerer.ask("Who are the Zorblat lighthouse keepers?")
    first = expected.citations[0]
    answer_html = render_answer(expected)
    passage_html = render_passage(1, first.title, first.passage, first.start - first.passage_start, first.end - first.passage_start)
    assert len(expected.text) > 6000 and len(first.passage) > 4096
    n_answer, n_passage = len(split_html(answer_html)), len(split_html(passage_html))

    async def scenario():
        async with running(api, long_answerer):
            api.send(41, "Who are the Zorblat lighthouse keepers?")
            answer = (await replies(api, 41, n_answer))[-1]
            api.press(answer.result, buttons(answer)[0]["callback_data"])
            return await replies(api, 41, n_answer + n_passage)

    messages = run(scenario())
    answer, passage = messages[:n_answer], messages[n_answer:]
    assert n_answer >= 2 and n_passage >= 2 and not api.failed()
    assert all(utf16_length(plain(m)) <= 4096 for m in messages)
    assert [bool(buttons(m)) for m in answer] == [False] * (n_answer - 1) + [True]
    assert "".join("".join(plain(m).split()) for m in answer) == "".join(parse_html(answer_html).split())
    assert "".join("".join(plain(m).split()) for m in passage) == "".join(parse_html(passage_html).split())
    assert all("<b>" in m.params["text"] for m in passage)  # the highlight spans the cut: closed and reopened
    assert "&amp; &lt;friends&gt;" in passage[0].params["text"]


@pytest.mark.parametrize(
    "html",
    [
        escape(" ".join(random.Random(1).choice(["alpha", "beta.", "<tag>", "&", "Ä", "😀", "x" * 30, "end.\n\n"]) for _ in range(4000))),
        render_passage(2, "Title <&>", "Sentence one. " * 300 + "The quote & more. " * 200 + "After. " * 300, 4200, 7800),
        "a" * 10000,
        escape("&<>" * 3000),
        "😀" * 5000,
        "<b><i>" + "w. " * 3000 + "</i></b> tail",
    ],
    ids=["mixed", "passage", "one-word", "entities", "emoji", "nested"],
)
def test_split_html_keeps_every_piece_valid_and_within_the_limit(html):
    pieces = split_html(html)
    texts = [parse_html(p) for p in pieces]  # raises on unbalanced tags or broken entities
    assert len(pieces) >= 2
    assert all(0 < utf16_length(t) <= 4096 for t in texts)
    assert "".join("".join(t.split()) for t in texts) == "".join(parse_html(html).split())


def test_render_escapes_article_text():
    citation = Citation(1, "a.txt", "Tom & <Jerry>", "0" * 16, 0, 9, "x < y & z", 1.0, "x < y & z", 0)
    html = render_answer(Answer("q", "x < y & z [1]", (citation,)))
    assert parse_html(html) == "x < y & z [1]\n\nSources\n[1] Tom & <Jerry>"


def test_hostile_input_is_escaped_and_answered(api, faiss_answerer):
    hostile = [
        f"<b>{QUESTION}</b>",
        "Tom & Jerry &amp; </pre> <script>alert(1)</script>",
        f"😀👍🏽 {QUESTION} 🇦🇲",
        "x" * 5000,
        "<",
        "a < b > c &lt;",
    ]

    async def scenario():
        async with running(api, faiss_answerer):
            for chat, text in enumerate(hostile, 51):
                api.send(chat, text)
            return [(await replies(api, chat))[0] for chat in range(51, 51 + len(hostile))]

    answers = run(scenario())
    assert not api.failed()
    assert "Hamparian" in plain(answers[0]) and "Hamparian" in plain(answers[2])
    assert "too long (5,000 characters)" in plain(answers[3])
    assert all(len(api.sent(chat)) == 1 for chat in range(51, 51 + len(hostile)))


# --- groups and access ---------------------------------------------------------------------------


def test_in_groups_only_commands_mentions_and_replies_are_answered(api, faiss_answerer):
    group = -100123

    async def scenario():
        async with running(api, faiss_answerer):
            api.send(group, QUESTION, user_id=7)  # chatter: ignored
            api.send(group, "/help@some_other_bot", user_id=7)  # another bot's command: ignored
            api.send(group, f"@{api.username} {QUESTION}", user_id=7)
            (answer,) = await replies(api, group)
            api.send(group, "What did he say?", user_id=8, reply_to=answer.result)
            api.send(group, f"/help@{api.username}", user_id=8)
            await replies(api, group, 3)
            await asyncio.sleep(0.3)

    run(scenario())
    answer, *others = api.sent(group)
    assert "Hamparian" in plain(answer) and answer.params["reply_parameters"]["message_id"]
    assert len(others) == 2 and any(plain(m) == tg.HELP for m in others)


def test_allowlist_refuses_a_stranger_once_and_answers_members(api, faiss_answerer):

    async def scenario():
        async with running(api, faiss_answerer, telegram_allowed_users=frozenset({61}), telegram_allowed_chats=frozenset({-100600})):
            api.send(62, QUESTION)
            api.send(62, QUESTION)
            api.send(61, QUESTION)
            api.send(-100600, f"@{api.username} {QUESTION}", user_id=63)
            stranger_button = api.send(64, "hi")
            api.press(stranger_button, "src:1:0123456789abcdef:0:9", user_id=64)
            await replies(api, 61)
            await replies(api, -100600)
            await until(lambda: api.sent(method="answerCallbackQuery"))
            await asyncio.sleep(0.3)

    run(scenario())
    assert [plain(m) for m in api.sent(62)] == [tg.REFUSED]
    assert "Hamparian" in plain(api.sent(61)[0]) and "Hamparian" in plain(api.sent(-100600)[0])
    assert api.sent(method="answerCallbackQuery")[0].params["text"] == tg.REFUSED


# --- load and faults -----------------------------------------------------------------------------


def test_a_429_is_waited_out_and_the_message_still_arrives(api, faiss_answerer):
    async def scenario():
        async with running(api, faiss_answerer):
            api.fail_next("sendMessage", 1, status=429, retry_after=1)
            api.send(71, QUESTION)
            return (await replies(api, 71))[0]

    started = time.monotonic()
    answer = run(scenario())
    (refused,) = api.failed()
    assert refused.method == "sendMessage" and refused.status == 429
    assert answer.at - refused.at >= 1.0 and "Hamparian" in plain(answer)
    assert time.monotonic() - started < 10


def test_twenty_chats_at_once_each_get_their_own_answer(api, faiss_answerer):
    questions = [QUESTION, UNANSWERABLE, "What did Kim Kardashian ask her followers?", "Who trace their ancestry to Armenia?"]
    chats = {100 + i: questions[i % len(questions)] for i in range(20)}
    expected = {q: parse_html(split_html(render_answer(faiss_answerer.ask(q)))[0]) for q in questions}

    async def scenario():
        async with running(api, faiss_answerer):
            for chat, text in chats.items():
                api.send(chat, text)
            for chat in chats:
                await replies(api, chat)
            await asyncio.sleep(0.2)

    run(scenario())
    for chat, text in chats.items():
        assert [plain(m) for m in api.sent(chat)] == [expected[text]]


class SlowOnce(Answerer):
    """The real answerer, taking 1.5 s over questions that mention "slowly"."""

    def ask(self, question, conversation=None):
        if "slowly" in question:
            time.sleep(1.5)
        return super().ask(question, conversation)


def test_a_slow_answer_does_not_hold_up_other_chats(api, faiss_answerer):
    slow = SlowOnce(faiss_answerer.searcher, faiss_answerer.k, faiss_answerer.threshold, faiss_answerer.mode)

    async def scenario():
        async with running(api, slow):
            api.send(81, f"{QUESTION} Answer slowly.")
            await until(lambda: api.sent(81, "sendChatAction"))
            api.send(82, QUESTION)
            fast = (await replies(api, 82))[0]
            late = (await replies(api, 81))[0]
            return fast, late

    fast, late = run(scenario())
    assert fast.at < late.at


@pytest.mark.slow  # waits out real back-offs
def test_an_answer_survives_5xx_and_repeated_429_and_arrives_once(api, faiss_answerer):
    """One 502 or 500, or a fourth 429 in a row, used to replace the answer with an apology."""

    async def scenario():
        async with running(api, faiss_answerer):
            api.fail_next("sendMessage", 1, status=502)
            api.fail_next("sendMessage", 1, status=500)
            api.fail_next("sendMessage", 5, status=429, retry_after=1)
            api.send(91, QUESTION)
            await replies(api, 91)
            await asyncio.sleep(0.5)  # a duplicate would arrive by now

    run(scenario())
    (answer,) = api.sent(91)
    assert "Hamparian" in plain(answer) and plain(answer) != tg.FAILED
    assert len(api.failed()) == 7


def test_an_answer_is_dropped_only_after_the_deadline_and_the_drop_is_logged(api, faiss_answerer, caplog):
    async def scenario():
        async with running(api, faiss_answerer, telegram_send_deadline_s=2.5):
            api.fail_next("sendMessage", 50, status=502)
            api.send(92, QUESTION)
            await until(lambda: "dropped" in caplog.text, timeout=20)

    with caplog.at_level(logging.INFO):
        run(scenario())
    assert api.sent(92) == [] and len(api.failed()) >= 2
    assert any(r.levelno == logging.ERROR and "dropped answer to chat 92" in r.getMessage() for r in caplog.records)


class Broken(Answerer):
    def ask(self, question, conversation=None):
        raise RuntimeError("internal detail that users must not see")


def test_a_failure_while_answering_is_logged_and_the_user_told(api, faiss_answerer, caplog):
    broken = Broken(faiss_answerer.searcher, faiss_answerer.k, faiss_answerer.threshold, faiss_answerer.mode)

    async def scenario():
        async with running(api, broken):
            api.send(93, QUESTION)
            return (await replies(api, 93))[0]

    with caplog.at_level(logging.INFO):
        reply = run(scenario())
    assert plain(reply) == tg.FAILED and "internal detail" not in plain(reply)
    assert any(r.levelno == logging.ERROR and r.exc_text and "internal detail" in r.exc_text for r in caplog.records)


def test_odd_buttons_and_broken_text_get_an_answer_not_an_error(api, faiss_answerer, caplog):
    async def scenario():
        async with running(api, faiss_answerer):
            message = api.send(94, QUESTION)
            await replies(api, 94)
            api.press(message, "not-a-source-button")
            await until(lambda: api.sent(method="answerCallbackQuery"))
            inline = {
                "id": "77",
                "from": {"id": 94, "is_bot": False, "first_name": "U"},
                "inline_message_id": "abc",
                "chat_instance": "1",
                "data": "src:1:0123456789abcdef:0:5",
            }
            api._push({"callback_query": inline})
            await until(lambda: len(api.sent(method="answerCallbackQuery")) >= 2)
            api.send(94, "\ud800")
            return (await replies(api, 94, 2))[1]

    with caplog.at_level(logging.INFO):
        hint = run(scenario())
    unknown, no_chat = api.sent(method="answerCallbackQuery")
    assert unknown.params["text"] == tg.UNKNOWN_BUTTON and no_chat.params["text"] == tg.NO_CHAT
    assert plain(hint) != tg.FAILED and "question" in plain(hint).lower()
    assert not any(r.levelno >= logging.ERROR for r in caplog.records)


@pytest.mark.slow  # waits out real back-offs
def test_an_unreachable_api_is_retried_at_start_and_while_polling(faiss_answerer, caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario():
        app = application(faiss_answerer, f"http://127.0.0.1:{port}")
        stop = asyncio.Event()
        task = asyncio.create_task(tg.serve(app, stop, poll_timeout=1))
        await asyncio.sleep(0.3)  # nothing listens yet: getMe fails
        with FakeBotAPI(port=port) as api:
            await until(lambda: any(c.method == "getUpdates" for c in api.calls))
            api.fail_next("getUpdates", 1, status=502)
            await until(api.failed)
            api.send(95, QUESTION)
            reply = (await replies(api, 95))[0]
            stop.set()
            await task
            return reply

    with caplog.at_level(logging.WARNING, logger="bot.telegram"):
        reply = run(scenario())
    assert "Hamparian" in plain(reply)
    messages = [r.getMessage() for r in caplog.records if r.name == "bot.telegram"]
    assert any("Bot API unreachable" in m and "retrying in" in m for m in messages)
    assert any("getting updates failed" in m for m in messages)


# --- configuration and secrets -------------------------------------------------------------------


def test_the_token_never_reaches_the_logs(api, faiss_answerer, caplog):
    async def scenario():
        async with running(api, faiss_answerer):
            api.send(96, QUESTION)
            await replies(api, 96)

    with caplog.at_level(logging.DEBUG):
        run(scenario())
        try:
            raise RuntimeError(f"GET {api.url}/bot{TOKEN}/getMe failed")
        except RuntimeError:
            logging.getLogger("somewhere.else").exception("request to %s", f"/bot{TOKEN}/getMe")
    assert any("answer with" in r.getMessage() and "citation(s)" in r.getMessage() for r in caplog.records)
    assert SECRET not in caplog.text
    assert all(SECRET not in r.getMessage() and SECRET not in (r.exc_text or "") for r in caplog.records)
    assert "1234567:***" in caplog.text


def test_a_rejected_token_stops_the_bot_with_invalid_token(api, faiss_answerer):
    async def scenario():
        app = application(faiss_answerer, api.url, "987654321:" + "x" * 35)
        await tg.serve(app, asyncio.Event(), poll_timeout=1)

    with pytest.raises(InvalidToken):
        run(scenario())


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TELEGRAM_BOT_TOKEN": ""}, "TELEGRAM_BOT_TOKEN is not set"),
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN=(hidden): must be a token from @BotFather"),
        ({"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_ALLOWED_USERS": "12,abc"}, "TELEGRAM_ALLOWED_USERS='12,abc': must be"),
    ],
)
def test_bad_settings_are_one_clear_error(monkeypatch, capsys, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tg.main(["--no-update"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_help_lists_options_and_environment(capsys):
    with pytest.raises(SystemExit) as exit_:
        tg.main(["--help"])
    out = capsys.readouterr().out
    assert exit_.value.code == 0
    assert all(word in out for word in ("--corpus", "--index", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE_URL", "TELEGRAM_ALLOWED_USERS"))


def test_api_urls_accept_a_root_or_a_bot_prefix():
    assert tg.api_urls("http://localhost:8081/") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
    assert tg.api_urls("http://localhost:8081/bot") == ("http://localhost:8081/bot", "http://localhost:8081/file/bot")
