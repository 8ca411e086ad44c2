"""The evaluation runs end to end on a tiny slice, and its metrics are right where the truth is known."""

import json

import pytest

from retrieval.eval import eval_holdout, eval_squad, has_gold, ndcg_at_10, retrieval_metrics

TINY_SQUAD = {
    "data": [
        {
            "title": "Yerevan",
            "paragraphs": [
                {
                    "context": "Yerevan is the capital and largest city of Armenia. It was founded in 782 BC as the fortress of Erebuni. "
                    "The city lies on the Hrazdan river and has a population of about one million people.",
                    "qas": [
                        {"id": "y1", "question": "When was Yerevan founded?", "answers": [{"text": "782 BC", "answer_start": 0}]},
                        {"id": "y2", "question": "Which river does Yerevan lie on?", "answers": [{"text": "Hrazdan", "answer_start": 0}]},
                    ],
                }
            ],
        },
        {
            "title": "Photosynthesis",
            "paragraphs": [
                {
                    "context": "Photosynthesis is the process by which green plants turn light into chemical energy. "
                    "It takes place in the chloroplasts, which contain the pigment chlorophyll. Oxygen is released as a by-product.",
                    "qas": [
                        {
                            "id": "p1",
                            "question": "Where does photosynthesis take place?",
                            "answers": [{"text": "chloroplasts", "answer_start": 0}],
                        },
                        {
                            "id": "p2",
                            "question": "Which gas is released by photosynthesis?",
                            "answers": [{"text": "Oxygen", "answer_start": 0}],
                        },
                    ],
                }
            ],
        },
    ]
}


def test_metrics_on_hand_made_rankings():
    first = retrieval_metrics([[True, False, False]], [True])
    assert first["recall@1"] == 1.0 and first["mrr@10"] == 1.0 and first["answer_has_gold"] == 1.0
    second = retrieval_metrics([[False, True]], [False])
    assert second["recall@1"] == 0.0 and second["recall@5"] == 1.0 and second["mrr@10"] == 0.5
    missed = retrieval_metrics([[False] * 20, [False] * 5 + [True]], [False, False])
    assert missed["recall@5"] == 0.0 and missed["recall@20"] == 0.5
    assert missed["mrr@10"] == pytest.approx((0 + 1 / 6) / 2)


def test_gold_matching_ignores_case_punctuation_and_articles():
    assert has_gold("It was founded in 782 BC, as a fortress.", ("782 bc",))
    assert has_gold("The Hrazdan river.", ("the Hrazdan",))
    assert not has_gold("It was founded in 1782 BC.", ("782 BC",))


def test_ndcg():
    assert ndcg_at_10(["a", "b"], {"a": 1}) == 1.0
    assert ndcg_at_10(["b", "a"], {"a": 1}) == pytest.approx(1 / 1.5849625, rel=1e-6)
    assert ndcg_at_10(["b"], {"a": 1}) == 0.0


@pytest.fixture
def tiny_squad(tmp_path):
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_SQUAD))
    return path


@pytest.mark.slow  # exports the reader (torch)
def test_squad_eval_end_to_end(tiny_squad, tmp_path, encoder):
    result = eval_squad(str(tiny_squad), tmp_path / "work", encoder, split="all")
    assert result["n_questions"] == 4 and result["n_chunks"] == 2
    assert set(result["systems"]) == {"reader", "hybrid", "lexical", "dense"}
    for metrics in result["systems"].values():
        for key in ("recall@1", "recall@5", "recall@20", "mrr@10", "answer_has_gold"):
            assert 0.0 <= metrics[key] <= 1.0
        assert metrics["recall@5"] == 1.0  # two passages: the gold one is always within five
    assert result["systems"]["lexical"]["recall@1"] == 1.0


def test_holdout_eval_counts_both_halves(tiny_squad, tmp_path, encoder):
    result = eval_holdout(str(tiny_squad), tmp_path / "work", encoder, split="all", reader=False)
    assert result["counts"] == {"out_of_corpus": 2, "in_corpus": 2, "unanswerable": 0}
    assert 0.0 <= result["abstain_out_of_corpus"] <= 1.0
    assert 0.0 <= result["false_abstain_in_corpus"] <= 1.0


@pytest.mark.slow  # exports the reader (torch)
def test_splits_keep_each_article_in_one_half(tiny_squad, tmp_path, encoder):
    from retrieval.datasets import squad_half

    halves = {squad_half("Yerevan"), squad_half("Photosynthesis")}
    counts = {split: eval_squad(str(tiny_squad), tmp_path / "work", encoder, split=split)["n_questions"] for split in ("train", "eval")}
    assert counts["train"] + counts["eval"] == 4
    assert {split for split, n in counts.items() if n} == halves
