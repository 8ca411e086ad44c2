"""Answers over the seed articles: cited, verified, declined when the articles do not say."""

from pathlib import Path

import pytest

from retrieval.conversation import Conversation, is_follow_up
from retrieval.question import MAX_QUESTION_CHARS

SEEDS = Path(__file__).resolve().parent.parent / "seeds"

ANSWERABLE = [
    ("Who is Aram Hamparian?", "003_f72df80af7b70ac3.txt", "executive director of ANCA"),
    ("What is the capital of Armenia?", "003_f72df80af7b70ac3.txt", "Yerevan"),
    ("When did Kardashian West share the link to the ANCA?", "003_f72df80af7b70ac3.txt", "Sept. 29"),
    ("Which film about the Armenian genocide did Eric Esrailian produce?", "003_f72df80af7b70ac3.txt", "The Promise"),
    ("When did the conflict between Armenia and Azerbaijan start?", "000_fd20d6fee344e7f0.txt", "80s"),
    # Declined or misquoted before the learned reader:
    ("What did the House lawmakers introduce?", "003_f72df80af7b70ac3.txt", "introduced a resolution"),
    ("How many people were killed?", "000_fd20d6fee344e7f0.txt", "killing thousands of people"),
    ("What did Kim say about the genocide?", "000_fd20d6fee344e7f0.txt", "proud that America recognizes"),
]
UNANSWERABLE = [
    "Who won the 2018 World Cup?",
    "What is the capital of France?",
    "How do I bake sourdough bread?",
    "What is the boiling point of water at sea level?",
    "Who is the CEO of Microsoft?",
]


def assert_verified(answer):
    for c in answer.citations:
        text = (SEEDS / c.article).read_text(encoding="utf-8")
        assert text[c.start : c.end] == c.quote
        assert c.passage in text and c.quote in c.passage
        assert f"[{c.n}]" in answer.text


@pytest.mark.parametrize("question, article, expected", ANSWERABLE)
def test_seed_questions_are_answered_from_the_right_article(answerer, question, article, expected):
    answer = answerer.ask(question)
    assert not answer.abstained, answer
    assert 1 <= len(answer.citations) <= 3
    assert any(c.article == article and expected in c.quote for c in answer.citations), answer.text
    assert_verified(answer)


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_questions_the_seeds_cannot_answer_are_declined(answerer, question):
    answer = answerer.ask(question)
    assert answer.abstained and answer.kind == "not_found", answer.text
    assert answer.citations == ()
    assert "couldn't find" in answer.text


@pytest.mark.parametrize("message", ["hi", "Hello!", "thanks", "Thank you so much", "who are you?", "What can you do?", "bye"])
def test_small_talk_gets_a_friendly_reply_without_citations(answerer, message):
    answer = answerer.ask(message)
    assert answer.kind == "small_talk" and answer.citations == ()
    assert "articles" in answer.text or "welcome" in answer.text.lower() or "bye" in answer.text.lower()


@pytest.mark.parametrize("message", ["", "   ", "\n\t", "\x00\x01\x02", "🙂🙂🙂", "?!"])
def test_empty_or_wordless_input_gets_a_hint(answerer, message):
    answer = answerer.ask(message)
    assert answer.kind == "hint" and answer.citations == ()


def test_very_long_input_is_refused_with_a_clear_message(answerer):
    answer = answerer.ask("Who is Aram Hamparian? " * 200)
    assert answer.kind == "too_long" and answer.citations == ()
    assert f"{MAX_QUESTION_CHARS:,}" in answer.text


def test_markup_and_control_characters_are_plain_text(answerer):
    answer = answerer.ask("<b>Who</b> is \x07Aram\u200b Hamparian?</pre>&amp;")
    assert not answer.abstained
    assert any("Hamparian" in c.quote for c in answer.citations)
    assert_verified(answer)


def test_follow_up_borrows_the_person_from_the_last_question(answerer):
    conversation = Conversation()
    first = answerer.ask("Who is Eric Esrailian?", conversation)
    assert not first.abstained
    follow = answerer.ask("What film did he produce?", conversation)
    assert "Esrailian" in follow.query
    assert not follow.abstained
    assert any("The Promise" in c.quote or "Esrailian" in c.quote for c in follow.citations), follow.text
    assert_verified(follow)


def test_self_contained_question_is_not_polluted_by_the_last_one(answerer):
    conversation = Conversation()
    answerer.ask("Who is Eric Esrailian?", conversation)
    fresh = answerer.ask("Who is Aram Hamparian?", conversation)
    assert fresh.query == "Who is Aram Hamparian?"
    assert any("Hamparian" in c.quote for c in fresh.citations)


def test_reset_forgets_the_topic(answerer):
    conversation = Conversation()
    answerer.ask("Who is Eric Esrailian?", conversation)
    conversation.reset()
    answer = answerer.ask("What film did he produce?", conversation)
    assert answer.query == "What film did he produce?"


@pytest.mark.parametrize(
    "question, expected",
    [
        ("When did she post it?", True),
        ("Who is he?", True),
        ("And his brother?", True),
        ("Who is Aram Hamparian?", False),
        ("What is the capital of Armenia?", False),
        ("When did Kim Kardashian post about Armenia?", False),
    ],
)
def test_follow_up_detection(question, expected):
    assert is_follow_up(question) is expected


def test_a_quote_whose_offsets_no_longer_match_is_never_cited(answerer, monkeypatch):
    original = answerer.index.article_text

    def shifted(article_id):
        return " " + original(article_id)  # every offset now points one character early

    monkeypatch.setattr(answerer.index, "article_text", shifted)
    answer = answerer.ask("Who is Aram Hamparian?")
    assert answer.citations == () and answer.abstained


def test_a_headline_that_restates_the_question_is_not_the_answer(tmp_path, model):
    """News corpora repeat the question's words in headlines and teasers that answer nothing."""
    from retrieval.answer import Answerer
    from retrieval.index import build
    from retrieval.reader import ensure_onnx

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.txt").write_text(
        "Acme posts results\n\nAcme Q2 2020 revenue.\n\nAcme reported revenue of $5.2 million for the second quarter "
        "of 2020, up 8 percent from a year earlier. The company also opened two new plants in Ohio.\n",
        encoding="utf-8",
    )
    (corpus / "race.txt").write_text(
        "Race day\n\nThe 2021 race is in the books. Jane Doe won the 2021 race by two seconds, ahead of Ann Lee. "
        "Thousands of people lined the course in the rain.\n",
        encoding="utf-8",
    )
    build(corpus, tmp_path / "idx", encoder=model)
    ensure_onnx(tmp_path / "idx")
    answerer = Answerer.open(tmp_path / "idx", encoder=model)
    revenue = answerer.ask("What was Acme's Q2 2020 revenue?")
    assert not revenue.abstained and "$5.2 million" in revenue.citations[0].quote
    assert all(c.quote != "Acme Q2 2020 revenue." for c in revenue.citations)
    winner = answerer.ask("Who won the 2021 race?")
    assert not winner.abstained and "Jane Doe" in winner.citations[0].quote


def test_a_weak_quote_from_another_article_does_not_join_the_answer():
    from retrieval.backends import StoredChunk
    from retrieval.choice import Candidate, pick
    from retrieval.search import Hit

    def candidate(article: str, score: float, text: str) -> Candidate:
        chunk = StoredChunk(1, "c" + article, article, "Title", 0, len(text), text, ((0, len(text)),), ("k",))
        features = {"restates": 0.0}
        return Candidate(Hit(chunk, 1.0, 0.5, 1.0, 0.5, 0.5, (0.5,)), 0, len(text), "k", features, score)

    best = candidate("a.txt", 5.0, "The ministers met in Moscow on Friday.")
    same = candidate("a.txt", 1.0, "They agreed to a ceasefire after ten hours.")
    weak_other = candidate("b.txt", -1.0, "Some of them are doctors and activists.")
    strong_other = candidate("c.txt", 2.0, "The talks in Moscow were hosted by Russia.")
    assert pick([best, weak_other, same], with_reader=True) == [best, same]
    assert pick([best, strong_other, same], with_reader=True) == [best, strong_other, same]
