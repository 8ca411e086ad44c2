"""Ask the articles from a terminal: `python -m bot.repl`, or `--json` for scripts."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from pathlib import Path

from bot.render_terminal import Style, render_answer, render_sources
from retrieval import settings
from retrieval.answer import Answer
from retrieval.cli import run, setup_logging
from retrieval.conversation import Conversation
from retrieval.errors import IndexProblem
from retrieval.service import Refused, Service

HELP = """Ask a question about the articles and press Enter. Answers quote the articles; [n] points at a source.
  /sources   show the full passages behind the last answer
  /add PATH_OR_URL  add an article (.txt .md .html .pdf .docx, or a web page) to the corpus and index it
  /reset     forget the conversation (follow-up questions start fresh)
  /help      this text
  /quit      leave (Ctrl-D and Ctrl-C work too)"""

log = logging.getLogger("bot.repl")
MAX_ADD_BYTES = 20 * 2**20  # the largest article file /add reads


def answer_json(answer: Answer, latency_ms: float) -> dict:
    return {
        "question": answer.question,
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [
            {
                "n": c.n,
                "article": c.article,
                "title": c.title,
                "chunk_id": c.chunk_id,
                "start": c.start,
                "end": c.end,
                "quote": c.quote,
                "score": c.score,
                "date": c.date,
                "url": c.url,
                "page": c.page,
            }
            for c in answer.citations
        ],
        "latency_ms": round(latency_ms, 2),
    }


def run_json(service: Service, lines, out) -> None:
    """One JSON object per input line, whatever the line holds; one conversation per run."""
    conversation = Conversation()
    for line in lines:
        question = line.rstrip("\r\n")
        if question.strip() == "/reset":
            conversation.reset()
            record = {"command": "/reset", "ok": True}
        else:
            started = time.perf_counter()
            try:
                answer = service.ask(question, conversation)
                record = answer_json(answer, (time.perf_counter() - started) * 1000)
            except Exception as exc:  # one bad line must not end the batch
                log.exception("failed to answer %r", question[:80])
                record = {"question": question, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        out.flush()


def _enable_line_editing(history: Path) -> None:
    try:
        import readline
    except ImportError:  # not on every platform; input() still works
        return
    import atexit

    try:
        readline.read_history_file(history)
    except OSError:
        pass
    readline.set_history_length(1000)

    def save() -> None:
        try:
            readline.write_history_file(history)
        except OSError:
            pass

    atexit.register(save)


def run_interactive(service: Service, history: Path, watching: bool = False) -> None:
    style = Style(sys.stdout.isatty())
    _enable_line_editing(history)
    stats = service.stats()
    live = f" (watching {service.settings.corpus} for changes)" if watching else ""
    print(f"Ready: {stats.articles} articles, {stats.passages} passages{live}. Ask a question, or /help.")
    conversation = Conversation()
    last: Answer | None = None
    while True:
        try:
            line = input(style("? ", "\033[1m") if style.colour else "? ")
        except (EOFError, KeyboardInterrupt):
            print()
            return
        command = line.strip().lower()
        if command in ("/quit", "/exit", "/q"):
            return
        if command == "/help":
            print(HELP)
        elif command == "/reset":
            conversation.reset()
            last = None
            print("Conversation reset.")
        elif command == "/sources":
            print(render_sources(last, style))
        elif command.startswith("/add"):
            print(add_article(service, line.strip()[4:].strip()))
        elif command.startswith("/") and " " not in command:
            print(f"Unknown command {command}. /help lists the commands.")
        else:
            try:
                answer = service.ask(line, conversation)
            except KeyboardInterrupt:
                print()
                continue
            except IndexProblem as exc:  # a database that went away: say so, keep the session
                print(f"error: {exc}\n")
                continue
            if answer.citations:
                last = answer
            print(render_answer(answer, style))
        print()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot.repl",
        description="Ask questions about a folder of articles. Answers are quoted from the articles, "
        "with numbered sources; when the articles do not say, the bot says so. "
        "The index is built or updated first when the corpus changed.",
    )
    settings.add_options(parser, serving=True)
    parser.add_argument("--json", action="store_true", help="read one question per line from stdin, write one JSON object per line")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    args = parser.parse_args(argv)
    setup_logging(logging.INFO if args.verbose else logging.WARNING)
    if not args.verbose:  # what the index update did is worth a line even when quiet
        for name in ("retrieval.index", "retrieval.service"):
            logging.getLogger(name).setLevel(logging.INFO)
    return run(lambda: _serve(args))


def add_article(service: Service, where: str) -> str:
    """`/add PATH_OR_URL`: what was added, or why not."""
    if not where:
        return "Usage: /add PATH_OR_URL"
    try:
        if where.startswith(("http://", "https://")):
            added = service.add_url(where)
        else:
            path = Path(where).expanduser()
            if not path.is_file():
                return f"No such file: {where}"
            added = service.add(path.name, path.read_bytes()) if path.stat().st_size <= MAX_ADD_BYTES else None
            if added is None:
                return f"{where} is larger than {MAX_ADD_BYTES // 2**20} MB"
    except Refused as exc:
        return f"Not added: {exc}"
    return f"Added “{added.title}” as {added.article} ({added.passages} passage{'s' * (added.passages != 1)})."


def _serve(args) -> int:
    config = settings.from_args(args)
    service = Service.start(config, update=not args.no_update, progress=sys.stderr.isatty() and not args.json)
    watching = not args.no_watch and not args.no_update and service.watch() is not None
    if not args.verbose:  # from here each change gets one "index updated" line, not the indexer's steps
        logging.getLogger("retrieval.index").setLevel(logging.WARNING)
    if args.json:
        stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace")
        stdout = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", write_through=True)
        run_json(service, stdin, stdout)
    else:
        run_interactive(service, config.index / "repl_history", watching)
    return 0


if __name__ == "__main__":
    sys.exit(main())
