"""Greetings, thanks and "who are you": friendly replies without touching the index."""

from __future__ import annotations

import re

GREETING = (
    "Hello! Ask me anything about the articles I have read, and I will answer with quotes from them and cite where each one comes from."
)
ABOUT = (
    "I answer questions from a fixed set of articles. Every answer is quoted word for word from them, "
    "with numbered sources you can check. If the articles do not say, I tell you so instead of guessing."
)
THANKS = "You're welcome! Ask another question whenever you like."
BYE = "Goodbye! Come back with more questions any time."

_PATTERNS = [
    (re.compile(r"(hi|hello|hey|hiya|howdy|yo|greetings|good (morning|afternoon|evening|day))( there| bot| all)?"), GREETING),
    (re.compile(r"(how are you( doing)?|how's it going|what's up|sup)"), GREETING),
    (re.compile(r"(thanks|thank you|thx|ty|cheers|great|cool|nice|ok|okay|awesome|perfect)( (so|very) much| a lot| again)?"), THANKS),
    (re.compile(r"(who|what) are you|what can you do|what do you do|help|how do (you|i use you|this) work|are you a bot"), ABOUT),
    (re.compile(r"(bye|goodbye|see you|see ya|good night)"), BYE),
]


def small_talk_reply(text: str) -> str | None:
    """A reply when the whole message is small talk, else None."""
    normal = re.sub(r"[^\w\s']", " ", text.lower().replace("’", "'"))
    normal = " ".join(normal.split())
    for pattern, reply in _PATTERNS:
        if pattern.fullmatch(normal):
            return reply
    # "hi, thanks!" and the like: every part is small talk
    parts = [p for p in re.split(r"[,.!?;]+", text.lower()) if p.strip()]
    if len(parts) > 1 and all(small_talk_reply(p) for p in parts):
        return small_talk_reply(parts[-1])
    return None
