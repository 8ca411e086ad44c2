"""Shared fixtures: one real model load and one real seed index per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
def seed_index(tmp_path_factory, encoder) -> Path:
    """A built index of seeds/ (read-only for tests: copy it before changing anything)."""
    from retrieval.index import build

    folder = tmp_path_factory.mktemp("seed-index")
    build(SEEDS, folder, encoder=encoder)
    return folder


@pytest.fixture(scope="session")
def answerer(seed_index, encoder):
    from retrieval.answer import Answerer

    return Answerer.open(seed_index, encoder=encoder)


@pytest.fixture
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target
