"""Recent turns of one conversation, and how a follow-up borrows the topic of the last question."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from retrieval.text import query_terms

PRONOUNS = frozenset(
    "he she him her his hers they them their theirs it its this that these those there "
    "he's she's it's".split()
)
QUESTION_WORDS = frozenset("who what when where why how which whom whose is are was were do does did can could".split())
MAX_TURNS = 6
SHORT_QUESTION_TERMS = 2


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

    @property
    def last(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def remember(self, question: str, query: str, answer) -> None:
        self.turns.append(Turn(question, query, answer))

    def resolve(self, question: str) -> str:
        """The query to search for: the question itself, plus the last topic when it leans on it."""
        topic = self._topic()
        if topic and is_follow_up(question):
            return f"{question} {topic}"
        return question


    def _topic(self) -> str:
        for turn in reversed(self.turns):
            if not getattr(turn.answer, "abstained", True) or turn.query != turn.question:
                return topic_of(turn.query)
        return ""


def entities(text: str) -> list[str]:
    """Capitalised words that are not just the first word of the sentence or a question word."""
    words = re.findall(r"[\w’'-]+", text)
    found = []
    for i, word in enumerate(words):
        if word[:1].isupper() and word.lower() not in QUESTION_WORDS and word.lower() not in PRONOUNS:
            if i > 0 or len(words) == 1 or word.isupper():
                found.append(word)
    return found


def topic_of(query: str) -> str:
    """Entities when the question named any, else its content words."""
    names = entities(query)
    return " ".join(dict.fromkeys(names)) if names else " ".join(query_terms(query))


def is_follow_up(question: str) -> bool:
    """Pronoun-led or very short questions that name nothing of their own lean on the last turn."""
    words = re.findall(r"[\w’'-]+", question.lower())
    has_pronoun = any(w in PRONOUNS for w in words)
    own_names = entities(question)
    if own_names:
        return False
    return has_pronoun or len(query_terms(question)) <= SHORT_QUESTION_TERMS - 1
