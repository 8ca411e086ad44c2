"""The reader as a torch module: training and the one-off ONNX export use it; answering never does.

A cross-encoder: the bundled MiniLM-L6 reads "question [SEP] title: sentence" together and one linear
unit on the [CLS] state says how likely the sentence answers the question. The word, position and
type embeddings stay frozen at the bundled model's values and are loaded from the installed package,
so the repository stores only the six transformer layers and the head, in fp16 (about 21 MB).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import torch
from torch import nn

from embeddings.onnx_encoder import model_dir
from retrieval.reader import CARD, WEIGHTS, WEIGHTS_DIR

FROZEN_PREFIX = "encoder.embeddings."


class ReaderWeightsError(RuntimeError):
    """The committed reader weights are missing or do not match their checksum."""


class ReaderNet(nn.Module):
    def __init__(self):
        super().__init__()
        from transformers import BertModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # its load report lists the pooler we leave out on purpose
        hf_logging.disable_progress_bar()
        self.encoder = BertModel.from_pretrained(str(model_dir()), add_pooling_layer=False)
        self.head = nn.Linear(self.encoder.config.hidden_size, 1)
        for param in self.encoder.embeddings.parameters():
            param.requires_grad = False

    def forward(self, input_ids, attention_mask, token_type_ids):
        states = self.encoder(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        return self.head(states[:, 0]).squeeze(-1)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """Everything except the frozen embeddings: what the repository stores."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(FROZEN_PREFIX)}


def sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def save_weights(net: ReaderNet, card: dict, folder: Path = WEIGHTS_DIR) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    weights, meta = folder / WEIGHTS.name, folder / CARD.name
    tmp = weights.with_suffix(".tmp")
    save_file({k: v.detach().to(torch.float16).contiguous() for k, v in net.trained_state().items()}, str(tmp))
    tmp.replace(weights)
    meta.write_text(json.dumps({**card, "sha256": sha256(weights)}, indent=2) + "\n", encoding="utf-8")


def load_reader(folder: Path = WEIGHTS_DIR) -> ReaderNet:
    """The bundled base model plus the committed trained layers, checked against their checksum."""
    from safetensors.torch import load_file

    weights, meta = folder / WEIGHTS.name, folder / CARD.name
    if not weights.is_file() or not meta.is_file():
        raise ReaderWeightsError(
            f"reader weights {weights} are missing; restore them with `git checkout -- retrieval/weights` or retrain with `python -m retrieval.train_reader`"
        )
    expected = json.loads(meta.read_text(encoding="utf-8")).get("sha256")
    if sha256(weights) != expected:
        raise ReaderWeightsError(
            f"reader weights {weights} are corrupt (sha256 does not match {meta.name}); restore them from git or retrain with `python -m retrieval.train_reader`"
        )
    net = ReaderNet()
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith(FROZEN_PREFIX) for k in missing):
        raise ReaderWeightsError(
            f"reader weights {weights} do not fit the bundled model (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    return net.eval()


def export_onnx(net: ReaderNet, path: Path) -> None:
    """fp32 graph with dynamic batch and length; written to a temp name, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    dummy = torch.ones((2, 16), dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shapes it fixes: dynamic axes cover them
        torch.onnx.export(
            net,
            (dummy, dummy, torch.zeros_like(dummy)),
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in ("input_ids", "attention_mask", "token_type_ids")}
            | {"logits": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    tmp.replace(path)
