from pathlib import Path

from retrieval.chunking import MAX_WORDS, chunk_article
from retrieval.corpus import MAX_BYTES, load_corpus

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def test_seed_articles_load_with_title_id_and_hash():
    articles, skipped = load_corpus(SEEDS)
    assert len(articles) == 2 and skipped == []
    for article in articles:
        assert (SEEDS / article.id).is_file()
        assert article.title == article.text.strip().splitlines()[0].strip()
        assert len(article.hash) == 64


def test_bad_files_are_skipped_with_a_reason(tmp_path):
    (tmp_path / "good.txt").write_text("Title\n\nA body sentence that is fine.", encoding="utf-8")
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "also-good.md").write_text("# Heading\nMore text here.", encoding="utf-8")
    (tmp_path / "empty.txt").write_text("   \n\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("Caf\xe9 story\nThe caf\xe9 on the corner reopened this week after repairs.".encode("latin-1"))
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\x00\x00\x01garbage")
    (tmp_path / "title-only.txt").write_text("Only a title\n", encoding="utf-8")
    with open(tmp_path / "huge.txt", "wb") as handle:
        handle.truncate(MAX_BYTES + 1)
    (tmp_path / "notes.csv").write_text("ignored", encoding="utf-8")
    articles, skipped = load_corpus(tmp_path)
    assert [a.id for a in articles] == ["good.txt", "latin1.txt", "nested/also-good.md"]
    assert articles[1].title == "Caf\xe9 story"  # not UTF-8: decoded by charset-normalizer, not skipped
    reasons = {s.path: s.reason for s in skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "title-only.txt", "huge.txt"}
    assert "binary" in reasons["binary.txt"]
    assert "larger" in reasons["huge.txt"]


def test_chunks_round_trip_to_the_source_text():
    articles, _ = load_corpus(SEEDS)
    for article in articles:
        chunks = chunk_article(article)
        assert chunks
        for chunk in chunks:
            assert article.text[chunk.start : chunk.end] == chunk.text
            assert chunk.sentences[0][0] == chunk.start and chunk.sentences[-1][1] == chunk.end
            for s, e in chunk.sentences:
                assert chunk.start <= s < e <= chunk.end
                assert article.text[s:e].strip() == article.text[s:e]
            assert len(chunk.text.split()) <= MAX_WORDS


def test_consecutive_chunks_overlap_by_one_sentence():
    articles, _ = load_corpus(SEEDS)
    for article in articles:
        chunks = chunk_article(article)
        for a, b in zip(chunks, chunks[1:]):
            if len(a.sentences) > 1:  # a one-sentence chunk has nothing to share and still moves on
                assert a.sentences[-1] == b.sentences[0]
            else:
                assert b.sentences[0][0] > a.sentences[0][0]


def test_links_outside_the_corpus_are_never_read(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "real.txt").write_text("Real title\n\nA body sentence that is fine.", encoding="utf-8")
    secret = tmp_path / "secret.txt"
    secret.write_text("Secret\n\nroot:x:0:0:root:/root:/bin/bash", encoding="utf-8")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "status.txt").symlink_to("/proc/self/status")
    (corpus / "secret.txt").symlink_to(secret)
    (corpus / "dangling.txt").symlink_to(tmp_path / "gone.txt")
    (corpus / "again.txt").symlink_to(corpus / "real.txt")  # inside: read once, as the real file
    (tmp_path / "outside-dir").mkdir()
    (tmp_path / "outside-dir" / "leak.txt").write_text("Leak\n\nsecret words", encoding="utf-8")
    (corpus / "linked-dir").symlink_to(tmp_path / "outside-dir", target_is_directory=True)
    with caplog.at_level("WARNING"):
        articles, skipped = load_corpus(corpus)
    assert [a.id for a in articles] == ["real.txt"]
    assert {s.path for s in skipped} >= {"passwd.txt", "status.txt", "secret.txt", "dangling.txt"}
    assert all("outside the corpus" in s.reason for s in skipped)
    assert "passwd.txt" in caplog.text and "root:x" not in caplog.text
    assert not any("secret words" in a.text or "root:x" in a.text for a in articles)


def test_utf16_files_are_decoded_not_called_binary(tmp_path):
    (tmp_path / "le.txt").write_bytes("Café story\n\nA body in UTF-16.".encode("utf-16"))
    (tmp_path / "be.txt").write_bytes(b"\xfe\xff" + "Title\n\nBig endian body.".encode("utf-16-be"))
    articles, skipped = load_corpus(tmp_path)
    assert skipped == []
    assert [a.title for a in articles] == ["Title", "Café story"]


def test_splitting_a_long_article_is_linear(tmp_path):
    """1 MB took about 3 minutes when each full stop searched back from the start of the text."""
    import time

    sentence = "The council met on Monday and Mr. Smith of the U.S. Army approved the plan. "
    text = "A long report\n\n" + "".join(sentence + ("\n\n" if i % 7 == 0 else "") for i in range(13_500))
    assert len(text) > 1_000_000
    (tmp_path / "long.txt").write_text(text, encoding="utf-8")
    (article,), _ = load_corpus(tmp_path)
    started = time.perf_counter()
    chunks = chunk_article(article)
    assert time.perf_counter() - started < 20  # seconds; linear splitting takes well under one
    assert chunks[-1].end == len(text.rstrip())


def test_a_rescan_parses_only_the_pages_that_changed(tmp_path, monkeypatch):
    from retrieval import extract

    parsed = []
    real = extract.extract
    monkeypatch.setattr(extract, "extract", lambda name, data: parsed.append(name) or real(name, data))
    page = "<html><head><title>{t}</title></head><body><article><p>{t} reopened its doors this week after a long repair.</p></article></body></html>"
    for name in ("a.html", "b.html"):
        (tmp_path / name).write_text(page.format(t=f"Library {name}"), encoding="utf-8")
    load_corpus(tmp_path)
    (tmp_path / "b.html").write_text(page.format(t="Museum b"), encoding="utf-8")
    articles, _ = load_corpus(tmp_path)
    assert sorted(parsed) == ["a.html", "b.html", "b.html"]  # a.html unchanged: parsed once
    assert [a.title for a in articles] == ["Library a.html", "Museum b"]
