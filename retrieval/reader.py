"""The learned reader on onnxruntime: how likely each sentence answers the question, read together.

Answering uses it to choose the quoted sentences and to decide whether the articles answer at all.
The graph is exported once per index folder from the committed weights (`reader_model`, torch);
after that, questions never import torch.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from embeddings.onnx_encoder import model_dir

MAX_TOKENS = 96
WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS = WEIGHTS_DIR / "reader.safetensors"
CARD = WEIGHTS_DIR / "reader.json"  # checksum, training recipe and the figures it reached

log = logging.getLogger(__name__)


def pair_text(title: str, sentence: str) -> str:
    """The second half of a reader pair: the article's title gives the sentence its topic."""
    return f"{title}: {sentence}" if title else sentence


def pair_tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS, strategy="longest_first")
    tokenizer.no_padding()
    return tokenizer


def batch_arrays(encodings) -> dict[str, np.ndarray]:
    """Pads a batch of pair encodings to its longest pair."""
    ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
    mask, types = np.zeros_like(ids), np.zeros_like(ids)
    for row, e in enumerate(encodings):
        n = len(e.ids)
        ids[row, :n], mask[row, :n], types[row, :n] = e.ids, e.attention_mask, e.type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def onnx_file(index_dir: str | Path) -> Path:
    """Where an index folder keeps its reader graph; named by the committed weights' checksum."""
    try:
        digest = json.loads(CARD.read_text(encoding="utf-8"))["sha256"][:16]
    except (OSError, ValueError, KeyError):
        digest = "missing"
    return Path(index_dir) / "reader" / digest / "reader.onnx"


def ensure_onnx(index_dir: str | Path) -> Path:
    """Exports the reader once per index folder and weights version (imports torch only then)."""
    path = onnx_file(index_dir)
    if not path.exists():
        from retrieval.reader_model import export_onnx, load_reader

        log.info("exporting the answer reader to %s", path.parent)
        export_onnx(load_reader(), path)
    return path


class Reader:
    """Scores (question, title: sentence) pairs: a logit for "this sentence answers the question".

    Pairs of one question go through in one batch; `score_many` batches several questions, so
    chats that ask at the same moment share one run of the model.
    """

    def __init__(self, path: str | Path, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, min(threads, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = pair_tokenizer()

    def score(self, question: str, items: list[tuple[str, str]]) -> np.ndarray:
        """One logit per (title, sentence) item."""
        return self.score_many([(question, items)])[0]

    def score_many(self, requests: list[tuple[str, list[tuple[str, str]]]]) -> list[np.ndarray]:
        pairs = [(q, pair_text(title, sentence)) for q, items in requests for title, sentence in items]
        if not pairs:
            return [np.zeros(0, dtype=np.float32) for _ in requests]
        encodings = self._tokenizer.encode_batch(pairs)
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))  # least padding
        logits = np.zeros(len(pairs), dtype=np.float32)
        for start in range(0, len(order), 32):
            rows = order[start : start + 32]
            logits[rows] = self._session.run(None, batch_arrays([encodings[i] for i in rows]))[0]
        out, at = [], 0
        for _, items in requests:
            out.append(logits[at : at + len(items)])
            at += len(items)
        return out


def open_reader(index_dir: str | Path) -> Reader | None:
    """The reader, or None with one warning saying why (answers then use the fitted logistic models)."""
    path = onnx_file(index_dir)
    if not path.exists():
        reason = f"{path} is missing (updating the index exports it)"
    else:
        try:
            return Reader(path)
        except ImportError as exc:
            reason = f"{exc.name or exc} is not installed"
        except Exception as exc:  # onnxruntime raises its own types for corrupt graphs
            reason = f"{path} could not be loaded ({exc})"
    log.warning("answer reader unavailable, choosing sentences without it (less accurate): %s", reason)
    return None
