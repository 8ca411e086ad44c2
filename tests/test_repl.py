"""The REPL's --json contract and its interactive commands, through the real entry point."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.repl import run_json
from retrieval.service import Service
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CITATION_KEYS = {"n", "article", "title", "chunk_id", "start", "end", "quote", "score", "date", "url", "page"}
HOSTILE = ["", "x" * 10_000, "\x00\x01\x1b[31mred\x7f", "🙂🙂🙂", "<b>bold</b> &amp; </pre><script>alert(1)</script>", "   "]


def check_answer_record(record, question):
    assert set(record) == {"question", "answer", "abstained", "citations", "latency_ms"}
    assert record["question"] == question
    assert isinstance(record["answer"], str) and record["answer"]
    assert isinstance(record["abstained"], bool)
    assert isinstance(record["latency_ms"], float)
    for c in record["citations"]:
        assert set(c) == CITATION_KEYS
        text = (ROOT / "seeds" / c["article"]).read_text(encoding="utf-8")
        assert text[c["start"] : c["end"]] == c["quote"]
        assert f"[{c['n']}]" in record["answer"]


def test_json_mode_writes_one_object_per_line_hostile_lines_included(answerer):
    lines = ["Who is Aram Hamparian?", "/reset", *HOSTILE, "What is the capital of France?"]
    out = io.StringIO()
    run_json(Service(Settings(), answerer), [line + "\n" for line in lines], out)
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(records) == len(lines)
    assert records[1] == {"command": "/reset", "ok": True}
    for line, record in zip(lines, records):
        if line != "/reset":
            check_answer_record(record, line)
    assert records[0]["citations"] and not records[0]["abstained"]
    assert records[-1]["abstained"] and not records[-1]["citations"]


def test_json_lines_form_one_conversation_until_reset(answerer):
    out = io.StringIO()
    run_json(
        Service(Settings(), answerer),
        ["Who is Eric Esrailian?\n", "What film did he produce?\n", "/reset\n", "What film did he produce?\n"],
        out,
    )
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert not records[1]["abstained"]
    assert any("Esrailian" in c["quote"] or "Promise" in c["quote"] for c in records[1]["citations"])
    assert records[1]["citations"] != records[3]["citations"]


@pytest.fixture(scope="module")
def index_copy(model_index, tmp_path_factory):
    import shutil

    target = tmp_path_factory.mktemp("repl") / "index"
    shutil.copytree(model_index, target)
    return target


def run_repl(args, stdin, index_dir, **env_overrides):
    env = {**os.environ, "NO_COLOR": "1", "QA_DEVICE": "cpu", **env_overrides}
    return subprocess.run(
        [sys.executable, "-m", "bot.repl", "--corpus", str(ROOT / "seeds"), "--index", str(index_dir), *args],
        input=stdin.encode("utf-8", "surrogateescape"),
        capture_output=True,
        cwd=index_dir.parent,  # not the checkout: a developer's .env there must not leak in
        env=env,
        timeout=300,
    )


def test_json_mode_process_keeps_stdout_pure(index_copy):
    stdin = "Who is Aram Hamparian?\n\xff invalid utf-8 line\n/reset\nWhat is the capital of France?\n"
    proc = run_repl(["--json"], stdin.encode("latin-1").decode("utf-8", "surrogateescape"), index_copy)
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode("utf-8").splitlines()
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert records[0]["citations"][0]["article"] == "003_f72df80af7b70ac3.txt"
    assert records[2] == {"command": "/reset", "ok": True}
    assert records[3]["abstained"]


def test_interactive_session_with_commands(index_copy):
    stdin = "/help\nWho is Aram Hamparian?\n/sources\n/reset\n/sources\nWhat is the capital of France?\n/quit\n"
    proc = run_repl([], stdin, index_copy)
    assert proc.returncode == 0, proc.stderr.decode()
    out = proc.stdout.decode("utf-8")
    assert "/sources" in out and "Sources:" in out
    assert "[1]" in out and "executive director of ANCA" in out
    assert "»" in out  # the quote is marked inside the full passage
    assert "Conversation reset." in out and "No sources yet" in out
    assert "couldn't find" in out
    assert "\033[" not in out  # plain text when piped


def test_the_same_repl_on_postgres_builds_then_answers(index_copy, postgres_url):
    stdin = "Who is Aram Hamparian?\nWhat is the capital of France?\n"
    proc = run_repl(["--json", "--backend", "postgres"], stdin, index_copy, DATABASE_URL=postgres_url)
    assert proc.returncode == 0, proc.stderr.decode()
    assert "2 articles, 19 chunks (2 added" in proc.stderr.decode()
    first, second = [json.loads(line) for line in proc.stdout.decode("utf-8").splitlines()]
    check_answer_record(first, "Who is Aram Hamparian?")
    assert first["citations"][0]["article"] == "003_f72df80af7b70ac3.txt" and second["abstained"]
    proc = run_repl(["--json"], "hello\n", index_copy, QA_BACKEND="postgres", DATABASE_URL="")
    assert proc.returncode == 2 and "error: QA_BACKEND=postgres needs DATABASE_URL" in proc.stderr.decode()


def test_missing_corpus_and_index_is_one_clear_error(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "bot.repl", "--corpus", str(tmp_path / "no-corpus"), "--index", str(tmp_path / "no-index")],
        capture_output=True,
        cwd=tmp_path,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    err = proc.stderr.decode()
    assert proc.returncode == 2
    assert "error: corpus folder" in err and "--corpus" in err and "Traceback" not in err


def test_help_explains_options():
    proc = subprocess.run([sys.executable, "-m", "bot.repl", "--help"], capture_output=True, cwd=ROOT, timeout=120)
    out = proc.stdout.decode()
    assert proc.returncode == 0 and "--corpus" in out and "--json" in out and "--index" in out


def test_control_characters_from_articles_are_shown_not_obeyed():
    """A newline in a file name broke the Sources line; escape codes in a title recoloured the terminal."""
    from bot.render_terminal import Style, render_answer, render_sources
    from retrieval.answer import Answer, Citation

    quote = "It rained \x1b[2J all day."
    citation = Citation(1, "evil\nname.txt", "Title \x1b[31mred\x1b[0m", "c1", 0, len(quote), quote, 1.0, quote, 0)
    answer = Answer("q", quote + " [1]", (citation,))
    for style in (Style(False), Style(True)):
        shown = render_answer(answer, style) + render_sources(answer, style)
        assert "\x1b[31m" not in shown and "\x1b[2J" not in shown and "evil\nname" not in shown
        assert "(evil name.txt" in shown and "\\x1b[31mred" in shown
