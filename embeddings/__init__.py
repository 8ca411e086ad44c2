"""Text -> normalised vectors with the bundled all-MiniLM-L6-v2 model.

`Encoder` (sentence-transformers, torch) embeds at index build time; `query_encoder` gives the
answering path the same model on onnxruntime, which starts in about a second instead of 10-15 s.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from embeddings.encoder import DIM, MODEL_NAME, Encoder
from embeddings.onnx_encoder import OnnxEncoder, export_onnx, onnx_path

__all__ = ["DIM", "MODEL_NAME", "Encoder", "OnnxEncoder", "ensure_onnx", "query_encoder"]

log = logging.getLogger(__name__)


def ensure_onnx(index_dir: str | Path) -> Path:
    """Exports the ONNX query encoder into the index folder unless it is there (imports torch only to export)."""
    folder = Path(index_dir) / "encoder"
    folder.mkdir(parents=True, exist_ok=True)
    path = onnx_path(index_dir)
    if not path.exists():
        log.info("exporting the query encoder to %s", path.parent)
        export_onnx(path)
        for stale in folder.iterdir():  # exports of weights no longer installed, or of killed builds
            if stale.is_dir() and stale != path.parent:
                shutil.rmtree(stale, ignore_errors=True)
    return path


def query_encoder(index_dir: str | Path):
    """The index's ONNX encoder when it has one and onnxruntime imports; else `Encoder`, saying why."""
    path = onnx_path(index_dir)
    if not path.exists():
        reason = f"{path} is missing (updating the index exports it)"
    else:
        try:
            return OnnxEncoder(path)
        except ImportError as exc:
            reason = f"{exc.name or exc} is not installed"
        except Exception as exc:  # onnxruntime raises its own types for corrupt graphs
            reason = f"{path} could not be loaded ({exc})"
    log.warning("query encoder: falling back to sentence-transformers (slow start): %s", reason)
    return Encoder()
