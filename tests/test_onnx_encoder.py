"""The ONNX query encoder: same vectors as sentence-transformers, a logged fallback, and no torch when answering."""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings import Encoder, OnnxEncoder, ensure_onnx, query_encoder
from embeddings.onnx_encoder import onnx_path
from retrieval.sentences import split_sentences

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"

ODD = [
    "",
    " ",
    "?",
    "42",
    "3.14159 2,718 1e-9 -17 +44 0000",
    "Call 555-0199 on 2020-10-01 at 10:30.",
    "In 1988, 95% of the region's 180,000 people were Armenian.",
    "$1,000,000.00 / €5 / ¥300 / £12.50",
    "Wer ist Aram Hamparian?",
    "Qui est le directeur exécutif de l'ANCA ?",
    "¿Dónde está Ereván?",
    "Кто такой Арам Гампарян?",
    "亚美尼亚的首都是哪里？",
    "アルメニアの首都はどこですか",
    "Երևանը Հայաստանի մայրաքաղաքն է",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "🙂🙂🙂",
    "Kim 💄 Kardashian 🇦🇲 posts 🔥🔥 #Artsakh @ANCA",
    "\t tabs\nand\r\nnewlines  ",
    "<b>bold</b> &amp; </pre><script>alert(1)</script>",
    "ÀÉÎÕÜ ß æ ø å ŒŸ",
    "\x00\x01\x1b[31mred\x7f",
    "a",
    "The",
    "x" * 2000,
    "word " * 600,
    "Armenia " * 300,
]


def varied_texts() -> list[str]:
    """A few hundred texts: seed sentences and paragraphs in several casings, questions, whole articles, oddities."""
    articles = [path.read_text(encoding="utf-8") for path in sorted(SEEDS.glob("*.txt"))]
    sentences = [text[s:e] for text in articles for s, e in split_sentences(text)]
    paragraphs = [p for text in articles for p in text.split("\n\n") if p.strip()]
    questions = [f"What about {' '.join(s.split()[:6])}?" for s in sentences]
    cased = [*(s.upper() for s in sentences), *(s.lower() for s in sentences)]
    texts = [*sentences, *paragraphs, *cased, *questions, *articles, " ".join(articles), *ODD]
    return list(dict.fromkeys(texts))


@pytest.fixture(scope="module")
def onnx_index(model_index, tmp_path_factory) -> Path:
    """A copy of the real seed index with its ONNX encoder exported: the one export of this module."""
    folder = tmp_path_factory.mktemp("onnx") / "index"
    shutil.copytree(model_index, folder)
    ensure_onnx(folder)
    return folder


def test_onnx_vectors_match_sentence_transformers(onnx_index, model):
    texts = varied_texts()
    assert len(texts) >= 250
    onnx = query_encoder(onnx_index)
    assert isinstance(onnx, OnnxEncoder)
    got, want = onnx.encode(texts), model.encode(texts)
    assert got.dtype == np.float32 and got.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cosines = (got * want).sum(axis=1)
    worst = int(cosines.argmin())
    assert cosines[worst] >= 0.9999, f"cosine {cosines[worst]:.6f} for {texts[worst][:80]!r}"
    assert onnx.encode([]).shape == (0, 384)


def test_export_is_named_by_the_weights_and_done_once(onnx_index):
    path = ensure_onnx(onnx_index)
    assert path.parent.name.startswith("all-MiniLM-L6-v2-") and len(path.parent.name.rsplit("-", 1)[1]) == 16
    assert sorted(p.name for p in path.parent.parent.iterdir()) == [path.parent.name, "weights.json"]  # no temp folders
    assert sorted(p.name for p in path.parent.iterdir()) == ["model.onnx", "model.onnx.data"]
    assert (path.parent / "model.onnx.data").stat().st_mode == path.stat().st_mode
    before = path.stat().st_mtime_ns
    assert ensure_onnx(onnx_index) == path and path.stat().st_mtime_ns == before


def fallback_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "embeddings" and r.levelno == logging.WARNING]


def test_missing_graph_falls_back_to_sentence_transformers_with_one_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        chosen = query_encoder(tmp_path)
    assert type(chosen) is Encoder
    (message,) = fallback_warnings(caplog)
    assert "missing" in message and str(onnx_path(tmp_path)) in message


def test_without_onnxruntime_falls_back(onnx_index, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with caplog.at_level(logging.WARNING):
        chosen = query_encoder(onnx_index)
    assert type(chosen) is Encoder
    (message,) = fallback_warnings(caplog)
    assert "onnxruntime is not installed" in message


def test_corrupt_graph_falls_back(tmp_path, caplog):
    path = onnx_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an onnx graph")
    with caplog.at_level(logging.WARNING):
        chosen = query_encoder(tmp_path)
    assert type(chosen) is Encoder
    (message,) = fallback_warnings(caplog)
    assert "could not be loaded" in message


ANSWER_WITHOUT_TORCH = """
import json, sys
import embeddings
from retrieval.answer import Answerer
heavy = ("torch", "sentence_transformers", "transformers", "onnxruntime")
after_import = [m for m in heavy if m in sys.modules]
encoder = embeddings.query_encoder(sys.argv[1])
answer = Answerer.open(sys.argv[1], encoder=encoder).ask("Who is Aram Hamparian?")
print(json.dumps({
    "encoder": type(encoder).__name__,
    "after_import": after_import,
    "after_answer": [m for m in heavy if m in sys.modules],
    "quotes": [c.quote for c in answer.citations],
}))
"""


def test_answering_from_an_index_never_imports_torch(onnx_index):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    result = subprocess.run(
        [sys.executable, "-c", ANSWER_WITHOUT_TORCH, str(onnx_index)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["encoder"] == "OnnxEncoder"
    assert report["after_import"] == []  # importing embeddings stays cheap
    assert report["after_answer"] == ["onnxruntime"]
    assert any("Hamparian" in quote for quote in report["quotes"]), report


def test_concurrent_queries_get_the_same_vectors(onnx_index):
    """The Telegram bot answers from worker threads, all sharing one encoder."""
    from concurrent.futures import ThreadPoolExecutor

    onnx = query_encoder(onnx_index)
    texts = varied_texts()[:32]
    with ThreadPoolExecutor(4) as pool:
        vectors = np.vstack(list(pool.map(lambda text: onnx.encode([text])[0], texts)))
    np.testing.assert_allclose(vectors, onnx.encode(texts), atol=1e-5)


UPDATE_WITHOUT_TORCH = """
import json, sys
from retrieval.index import update_index
report = update_index(sys.argv[2], sys.argv[1])
print(json.dumps({"embedded": report.embedded, "torch": "torch" in sys.modules}))
"""


def test_updates_after_the_first_build_embed_without_torch(onnx_index, corpus_copy, tmp_path):
    folder = tmp_path / "index"
    shutil.copytree(onnx_index, folder)
    (corpus_copy / "sevan.txt").write_text("Lake Sevan\n\nLake Sevan is the largest lake in Armenia.\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", UPDATE_WITHOUT_TORCH, str(folder), str(corpus_copy)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"embedded": 1, "torch": False}
