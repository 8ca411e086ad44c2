"""Articles in while the bot runs: every format answers with verified quotes, dates and URLs in its
citations; the watched folder, uploads, links and feeds update the index; hostile input is refused."""

from __future__ import annotations

import http.server
import shutil
import threading
import time

import pytest
from fake_encoder import fake_answerer
from test_extract import PAGE, make_docx, make_pdf

from bot.repl import add_article
from retrieval import add as add_cli
from retrieval.index import build
from retrieval.service import Refused, Service
from retrieval.settings import Settings
from tests.conftest import SEEDS

LIVE_LIMIT_S = 5.0
FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Example</title>
<item><title>Flood</title><link>{base}/flood.html</link></item>
<item><title>Gone</title><link>{base}/missing.html</link></item></channel></rss>"""


@pytest.fixture
def service(tmp_path, encoder, counting):
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    index = tmp_path / "index"
    build(corpus, index, encoder=encoder)
    service = Service(Settings(corpus=corpus, index=index), fake_answerer(index, encoder), encoder=counting)
    yield service
    service.close()


def ask_until(service: Service, question: str, answered: bool, limit: float = LIVE_LIMIT_S):
    started = time.monotonic()
    while True:
        answer = service.ask(question)
        if (not answer.abstained) == answered:
            return answer, time.monotonic() - started
        assert time.monotonic() - started < limit, f"{question!r}: still {answer.kind} after {limit} s"
        time.sleep(0.1)


def test_pages_pdfs_and_word_files_answer_with_dates_urls_and_verified_quotes(service):
    service.add("flood.html", PAGE)
    pages = [["The port authority met on Monday."], ["The harbour bridge will be repainted in green next summer."]]
    service.add("budget.pdf", make_pdf(pages, {"/Title": "Harbour works"}))
    service.add("zoo.docx", make_docx(["Zoo news", "The city zoo welcomed two red pandas from Nepal this week."], title="Zoo news"))
    for question, words in [
        ("Where did the council open an emergency shelter?", "school gym"),
        ("What colour will the harbour bridge be repainted?", "green"),
        ("Where did the red pandas come from?", "Nepal"),
    ]:
        answer = service.ask(question)
        assert not answer.abstained and words in answer.citations[0].quote, question
        c = answer.citations[0]
        assert service.answerer.index.article_text(c.article)[c.start : c.end] == c.quote
    assert service.ask("What colour will the harbour bridge be repainted?").citations[0].page == 2
    flood = service.ask("Where did the council open an emergency shelter?").citations[0]
    assert (flood.date, flood.url) == ("2024-03-15", "https://news.example.com/2024/03/15/river-flood")
    assert "SCRIPT" not in service.answerer.index.article_text("flood.html")


def test_the_watched_folder_updates_the_index_within_seconds(service):
    service.watch()
    time.sleep(0.5)  # the watcher is listening
    article = service.settings.corpus / "lake.txt"
    article.write_text("Lake report\n\nLake Sevan lies 1,900 metres above sea level in Armenia.\n", encoding="utf-8")
    answer, seconds = ask_until(service, "How high above sea level does Lake Sevan lie?", answered=True)
    assert "1,900 metres" in answer.citations[0].quote and seconds < LIVE_LIMIT_S
    article.unlink()
    ask_until(service, "How high above sea level does Lake Sevan lie?", answered=False)


def test_adding_one_article_embeds_only_that_article(service):
    added = service.add("shelter.html", PAGE)
    assert added.article == "shelter.html" and added.title == "River floods the old town" and added.passages >= 1
    embedded = service.encoder.texts
    assert 0 < embedded <= 20  # one short article's passages and sentences; the seeds are reused
    again = service.add("shelter.html", PAGE)  # the same name again: a second file, not an overwrite
    assert again.article == "shelter-2.html" and service.encoder.texts == embedded  # same text: nothing new to embed


@pytest.mark.parametrize(
    "name, data, reason",
    [
        ("../escape.txt", b"Title\n\nBody text here.", "not a safe file name"),
        ("a\nb.txt", b"Title\n\nBody text here.", "not a safe file name"),
        (".hidden.txt", b"Title\n\nBody text here.", "not a safe file name"),
        ("tool.exe", b"MZ\x90\x00", "only .txt"),
        ("broken.pdf", b"%PDF-1.4 garbage", "not a readable PDF"),
        ("bomb.docx", b"PK\x03\x04 not really a zip", "not a Word .docx file"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
    ],
)
def test_hostile_uploads_are_refused_and_nothing_is_written(service, name, data, reason):
    before = sorted(p.name for p in service.settings.corpus.parent.rglob("*"))
    with pytest.raises(Refused, match=reason):
        service.add(name, data)
    assert sorted(p.name for p in service.settings.corpus.parent.rglob("*")) == before


def test_remove_deletes_the_article_and_nothing_outside_the_corpus(service, tmp_path):
    outside = tmp_path / "keep.txt"
    outside.write_text("keep me", encoding="utf-8")
    assert not service.remove("../keep.txt") and outside.exists()
    first = service.articles()[0][0]
    assert service.remove(first)
    assert first not in [a for a, _ in service.articles()] and not (service.settings.corpus / first).exists()


class Site(http.server.BaseHTTPRequestHandler):
    pages: dict[str, tuple[str, bytes]] = {}

    def do_GET(self):  # noqa: N802 (the stdlib's name)
        kind, body = self.pages.get(self.path, ("text/plain", b""))
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Site)
    base = f"http://127.0.0.1:{server.server_port}"
    Site.pages = {
        "/flood.html": ("text/html", PAGE),
        "/feed.xml": ("application/rss+xml", FEED.format(base=base).encode()),
        "/report.pdf": ("application/pdf", make_pdf([["The tunnel under the river opens to traffic in May."]])),
    }
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield base
    server.shutdown()


def test_links_are_fetched_saved_and_answered(service, site):
    added = service.add_url(f"{site}/report.pdf")
    assert added.article.endswith(".pdf") and (service.settings.corpus / added.article).is_file()
    assert "May" in service.ask("When does the tunnel under the river open?").text
    for url, reason in [
        (f"{site}/nothing.html", "HTTP 404"),
        (f"{site}/loop", "redirects more than"),
        ("file:///etc/passwd", "not an http"),
    ]:
        with pytest.raises(Refused, match=reason):
            service.add_url(url)


def test_the_add_command_reads_a_feed_once_and_reports_failures(tmp_path, site, encoder, capsys, monkeypatch):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build(corpus, index, encoder=encoder)
    monkeypatch.setattr("retrieval.add.update_index", lambda corpus, where, device: _build_report(corpus, where, encoder))
    args = ["--corpus", str(corpus), "--index", str(index), "--feed", f"{site}/feed.xml"]
    assert add_cli.main(args) == 1  # one item's link is a 404
    out, err = capsys.readouterr()
    assert "added 127.0.0.1-flood.html: River floods the old town" in out and "HTTP 404" in err
    assert add_cli.main(args) == 1  # the 404 is tried again; the page already added is not
    out, _ = capsys.readouterr()
    assert "added" not in out and len(list(corpus.glob("*flood*"))) == 1


def _build_report(corpus, where, encoder):
    return build(corpus, where, encoder=encoder)


def test_the_repl_adds_a_file_by_path(service, tmp_path):
    page = tmp_path / "page.html"
    page.write_bytes(PAGE)
    assert add_article(service, str(page)).startswith("Added “River floods the old town” as page.html")
    assert add_article(service, str(tmp_path / "nope.pdf")) == f"No such file: {tmp_path / 'nope.pdf'}"
    assert add_article(service, "").startswith("Usage")


def test_an_index_from_before_dates_and_urls_still_answers_and_gains_them_on_update(tmp_path, encoder):
    import sqlite3

    from retrieval.backends.faiss_sqlite import DB_NAME, Index

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    build(corpus, index, encoder=encoder)
    with sqlite3.connect(index / DB_NAME) as conn:
        for column in ("date", "url", "pages"):
            conn.execute(f"ALTER TABLE articles DROP COLUMN {column}")
    with Index.open(index) as old:
        assert old.article_source(old.article_titles()[0][0]).date is None  # no columns: nothing known, no error
    (corpus / "flood.html").write_bytes(PAGE)
    build(corpus, index, encoder=encoder)
    with Index.open(index) as upgraded:
        assert upgraded.article_source("flood.html").date == "2024-03-15"


def hostile_files() -> dict[str, bytes]:
    import gzip
    import io
    import zipfile

    from test_extract import make_docx

    bomb = io.BytesIO(make_docx(["Title", "Body."]))
    with zipfile.ZipFile(bomb, "a", compression=zipfile.ZIP_DEFLATED) as archive, archive.open("word/media/x.bin", "w") as member:
        for _ in range(16):
            member.write(bytes(1 << 20))
    depth = 200_000
    return {
        "encrypted.pdf": make_pdf([["Secret plans."]], password="hunter2"),
        "broken.pdf": b"%PDF-1.7\n" + bytes(range(256)) * 40,
        "scanned.pdf": make_pdf([[]]),
        "notzip.docx": b"This is not a Word file at all.",
        "bomb.docx": bomb.getvalue(),
        "bomb.html.gz": gzip.compress(bytes(1 << 20), 9) * 32,
        "nested.html": b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth + b"</body></html>",
        "line\nbreak.txt": b"Title\n\nA body that would be fine.",
    }


def test_hostile_files_in_the_corpus_are_skipped_with_reasons_and_the_index_stays_whole(tmp_path, encoder):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(SEEDS, corpus)
    for name, data in hostile_files().items():
        (corpus / name).write_bytes(data)
    (corpus / "script.html").write_bytes(PAGE.replace(b"</article>", b"<script>while(true){}</script></article>"))
    report = build(corpus, index, encoder=encoder)
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == set(hostile_files()), reasons
    assert "encrypted" in reasons["encrypted.pdf"] and "no text layer" in reasons["scanned.pdf"]
    assert "not a Word .docx file" in reasons["notzip.docx"] and "suspicious archive" in reasons["bomb.docx"]
    assert "decompressed" in reasons["bomb.html.gz"] and "control characters" in reasons["line\nbreak.txt"]
    assert report.articles == len(list(SEEDS.iterdir())) + 1  # the seeds and the page with a script
    answerer = fake_answerer(index, encoder)
    assert answerer.ask("Who is Aram Hamparian?").citations  # the rest answers as before
    assert "while" not in answerer.index.article_text("script.html")  # scripts are never text, never run


def test_a_failed_update_is_logged_and_the_previous_index_keeps_answering(service, caplog):
    shutil.rmtree(service.settings.corpus)  # the folder vanished (an unmounted share)
    with caplog.at_level("ERROR"):
        assert service.update() is None
    assert "still answering from the previous index" in caplog.text and "does not exist" in caplog.text
    assert service.ask("Who is Aram Hamparian?").citations


def test_removing_a_linked_article_removes_the_link_not_its_target(service):
    target = service.settings.corpus / "sub" / "real.txt"
    target.parent.mkdir()
    target.write_text("Real article\n\nThe real article says the bridge opened in 1911.\n", encoding="utf-8")
    (service.settings.corpus / "link.txt").symlink_to(target)
    service.update()
    assert service.remove("link.txt")
    assert target.exists() and not (service.settings.corpus / "link.txt").exists()


def test_no_folder_means_no_watcher_and_a_warning(service, caplog):
    shutil.rmtree(service.settings.corpus)
    with caplog.at_level("WARNING"):
        assert service.watch() is None
    assert "not watching" in caplog.text
