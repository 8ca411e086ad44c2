"""Articles from the chat, through the fake Bot API: admins add files and links and remove articles;
everyone else gets one polite refusal and nothing is saved."""

from __future__ import annotations

import shutil

import pytest
from fake_bot_api import FakeBotAPI
from fake_encoder import fake_answerer
from test_extract import PAGE
from test_live_corpus import site  # noqa: F401 (a fixture: a local web server)
from test_telegram import buttons, plain, replies, run, running

from bot import telegram_articles as articles
from retrieval.index import build
from tests.conftest import SEEDS

ADMIN, STRANGER = 7, 8


@pytest.fixture
def api():
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def bot_options(tmp_path, encoder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build(corpus, index, encoder=encoder)
    answerer = fake_answerer(index, encoder)
    return answerer, {"encoder": encoder, "corpus": corpus, "index": index, "telegram_admin_users": frozenset({ADMIN})}


def test_an_admin_uploads_a_page_and_questions_are_answered_from_it_with_its_date(api, bot_options):
    answerer, options = bot_options

    async def scenario():
        async with running(api, answerer, **options):
            api.send_document(ADMIN, "flood.html", PAGE)
            added = (await replies(api, ADMIN))[0]
            api.send(ADMIN, "Where did the council open an emergency shelter?")
            answer = (await replies(api, ADMIN, 2))[1]
            return added, answer

    added, answer = run(scenario())
    assert plain(added).startswith("Added “River floods the old town” as flood.html (")
    assert "school gym" in plain(answer) and "River floods the old town, 2024-03-15" in plain(answer)
    assert 'href="https://news.example.com/2024/03/15/river-flood"' in answer.params["text"]
    assert (options["corpus"] / "flood.html").read_bytes() == PAGE


def test_strangers_cannot_add_or_remove_and_nothing_is_saved(api, bot_options):
    answerer, options = bot_options
    before = sorted(p.name for p in options["corpus"].iterdir())

    async def scenario():
        async with running(api, answerer, **options):
            api.send_document(STRANGER, "flood.html", PAGE)
            api.send(STRANGER, "/remove 1")
            return await replies(api, STRANGER, 2)

    refusals = run(scenario())
    assert [plain(r) for r in refusals] == [articles.NOT_ADMIN, articles.NOT_ADMIN]
    assert sorted(p.name for p in options["corpus"].iterdir()) == before


def test_hostile_or_oversized_uploads_are_refused_with_the_reason(api, bot_options):
    answerer, options = bot_options
    before = sorted(p.name for p in options["corpus"].iterdir())

    async def scenario():
        async with running(api, answerer, **options):
            api.send_document(ADMIN, "broken.pdf", b"%PDF-1.4 garbage")
            api.send_document(ADMIN, "../../etc/cron.d/x.txt", b"Title\n\nBody text.")
            api.send_document(ADMIN, "huge.pdf", b"%PDF", size=25 * 1024 * 1024)
            return await replies(api, ADMIN, 3)

    texts = sorted(plain(r) for r in run(scenario()))  # updates are handled concurrently: any order
    assert texts[0].startswith("Not added: '../../etc/cron.d/x.txt' is not a safe file name")
    assert texts[1].startswith("Not added: broken.pdf: not a readable PDF")
    assert texts[2] == articles.TOO_BIG
    assert sorted(p.name for p in options["corpus"].iterdir()) == before


def test_an_admin_lists_articles_and_removes_one_after_confirming(api, bot_options):
    answerer, options = bot_options
    first = sorted(p.name for p in options["corpus"].iterdir())[0]

    async def scenario():
        async with running(api, answerer, **options):
            api.send(ADMIN, "/articles")
            listing = (await replies(api, ADMIN))[0]
            api.send(ADMIN, "/remove 1")
            confirm = (await replies(api, ADMIN, 2))[1]
            api.press(confirm.result, "rm:yes")
            done = (await replies(api, ADMIN, 3))[2]
            api.press(confirm.result, "rm:yes")  # pressed twice: nothing left to do
            await replies(api, ADMIN, 3)
            return listing, confirm, done

    listing, confirm, done = run(scenario())
    assert "Articles" in plain(listing) and "1. " in plain(listing) and first in plain(listing)
    assert [b["callback_data"] for b in buttons(confirm)] == ["rm:yes", "rm:no"] and first in plain(confirm)
    assert plain(done) == f"Removed {first}." and not (options["corpus"] / first).exists()
    assert first not in [a for a, _ in answerer.index.article_titles()]


def test_an_admins_link_is_fetched_and_added_and_a_strangers_link_is_a_question(api, bot_options, site):  # noqa: F811
    answerer, options = bot_options

    async def scenario():
        async with running(api, answerer, **options):
            api.send(ADMIN, f"{site}/flood.html")
            added = (await replies(api, ADMIN))[0]
            api.send(STRANGER, f"{site}/report.pdf")
            answered = (await replies(api, STRANGER))[0]
            api.send(ADMIN, f"Where is the shelter in {site}/flood.html?")  # a link inside a question
            question = (await replies(api, ADMIN, 2))[1]
            return added, answered, question

    added, answered, question = run(scenario())
    assert not plain(question).startswith(("Added", "Not added"))
    assert plain(added).startswith("Added “River floods the old town” as 127.0.0.1-flood.html")
    assert not plain(answered).startswith("Added") and not list(options["corpus"].glob("*report*"))
