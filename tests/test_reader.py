"""The learned reader: the same scores on onnxruntime as in torch, answers above restatements,
and a clear error for missing or damaged weights."""

import shutil

import numpy as np
import pytest

from retrieval.reader import Reader
from retrieval.reader_model import CARD, WEIGHTS, ReaderWeightsError, load_reader

pytestmark = pytest.mark.slow  # torch and the reader's weights in every test

PAIRS = [
    ("Who won the 2021 race?", "Race report", "The 2021 race is in the books."),
    ("Who won the 2021 race?", "Race report", "Jane Doe won the 2021 race by two seconds ahead of Ann Lee."),
    ("What was Acme's revenue in Q2 2020?", "Acme results", "Acme Q2 2020 revenue."),
    (
        "What was Acme's revenue in Q2 2020?",
        "Acme results",
        "Acme reported revenue of $5.2 million for the second quarter of 2020, up 8 percent.",
    ),
    ("When was the bridge opened?", "Old bridge", "The bridge was opened to traffic on 3 May 1911."),
    ("When was the bridge opened?", "Old bridge", "People often ask when the bridge was opened."),
]


@pytest.fixture(scope="module")
def reader(model_index):
    from retrieval.reader import ensure_onnx

    return Reader(ensure_onnx(model_index))  # exported there already


def test_onnx_scores_match_torch(reader):
    import torch

    from retrieval.reader import batch_arrays, pair_text, pair_tokenizer

    net = load_reader()
    arrays = batch_arrays(pair_tokenizer().encode_batch([(q, pair_text(t, s)) for q, t, s in PAIRS]))
    with torch.no_grad():
        expected = net(**{k: torch.from_numpy(v) for k, v in arrays.items()}).numpy()
    got = np.concatenate([reader.score(q, [(t, s)]) for q, t, s in PAIRS])  # unpadded, one at a time
    assert np.abs(got - expected).max() < 1e-3


def test_a_sentence_that_answers_outranks_one_that_repeats_the_question(reader):
    for i in (0, 4):  # a headline fragment (pairs 2-3) is answering's to drop: it adds no word to the question
        (question, title, restated), (_, _, answering) = PAIRS[i], PAIRS[i + 1]
        restated_score, answering_score = reader.score(question, [(title, restated), (title, answering)])
        assert answering_score > restated_score, (question, restated_score, answering_score)


def test_batched_questions_score_as_they_do_alone(reader):
    requests = [(q, [(t, s)]) for q, t, s in PAIRS]
    together = np.concatenate(reader.score_many(requests))
    alone = np.concatenate([reader.score(q, items) for q, items in requests])
    assert np.allclose(together, alone, atol=1e-4)


def test_missing_or_corrupt_weights_fail_with_a_clear_message(tmp_path):
    with pytest.raises(ReaderWeightsError, match="missing.*retrain with `python -m retrieval.train_reader`"):
        load_reader(tmp_path)
    shutil.copy(CARD, tmp_path / CARD.name)
    damaged = bytearray(WEIGHTS.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    (tmp_path / WEIGHTS.name).write_bytes(bytes(damaged))
    with pytest.raises(ReaderWeightsError, match="corrupt"):
        load_reader(tmp_path)
