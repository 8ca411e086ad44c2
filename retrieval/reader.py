"""The learned reader on onnxruntime: how likely each sentence answers the question, read together.

Answering uses it to choose the quoted sentences and to decide whether the articles answer at all.
The graph is exported once per index folder from the committed weights (`reader_model`, torch);
after that, questions never import torch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np

from embeddings.onnx_encoder import model_dir

MAX_TOKENS = 96
INPUTS = ("input_ids", "attention_mask", "token_type_ids")

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
