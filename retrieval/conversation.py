"""Recent turns of one conversation, and how a follow-up borrows the topic of the last question."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from retrieval.text import query_terms

PRONOUNS = frozenset("he she him her his hers they them their theirs it its this that these those there he's she's it's".split())
QUESTION_WORDS = frozenset("who what when where why how which whom whose is are was were do does did can could".split())
MAX_TURNS = 6
SHORT_QUESTION_TERMS = 2
TOPIC_TURNS = 2


@dataclass
class Turn:
    question: str
    query: str  # what retrieval actually searched for
    answer: object  # retrieval.answer.Answer; kept loose to avoid a cycle


@dataclass
class Conversation:
    turns: deque = field(default_factory=lambda: deque(maxlen=MAX_TURNS))

    def reset(self) -> None:
        self.turns.clear()

    def remember(self, question: str, query: str, answer) -> None:
        self.turns.append(Turn(question, query, answer))

    def resolve(self, question: str) -> str:
        """The query to search for: the question itself, plus the last topic when it leans on it."""
        topic = self._topic()
        if topic and is_follow_up(question):
            return f"{question} {topic}"
        return question

    def _topic(self) -> str:
        """Names from the last two answered turns (a pronoun may point past the latest one)."""
        answered = [t for t in reversed(self.turns) if not getattr(t.answer, "abstained", True)][:TOPIC_TURNS]
        names = [n for t in answered for n in entities(t.query)]
        if names:
            return " ".join(dict.fromkeys(names))
        return " ".join(query_terms(answered[0].query)) if answered else ""


def entities(text: str) -> list[str]:
    """Capitalised words that are not just the first word of the sentence or a question word."""
    words = re.findall(r"[\w’'-]+", text)
    found = []
    for i, word in enumerate(words):
        named = word[:1].isupper() and word.lower() not in QUESTION_WORDS and word.lower() not in PRONOUNS
        if named and (i > 0 or len(words) == 1 or word.isupper()):
            found.append(word)
    return found


def is_follow_up(question: str) -> bool:
    """Pronoun-led or very short questions that name nothing of their own lean on the last turn."""
    words = re.findall(r"[\w’'-]+", question.lower())
    has_pronoun = any(w in PRONOUNS for w in words)
    own_names = entities(question)
    if own_names:
        return False
    return has_pronoun or len(query_terms(question)) <= SHORT_QUESTION_TERMS - 1
