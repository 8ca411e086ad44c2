"""Question -> a short extractive answer: verified quotes, numbered citations, or an honest "not found".

No generation: every sentence of an answer is a span of an indexed article, checked against the
article text at its recorded offsets before it is shown. The steps are separate modules: input
checks (`question`), follow-ups (`conversation`), retrieval (`search`), sentence choice (`choice`,
with the learned `reader`) and abstention (`abstention`); `Answerer` runs them in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from retrieval import abstention, choice
from retrieval.backends import Location, as_location, open_index, vector_key
from retrieval.choice import Candidate
from retrieval.conversation import Conversation
from retrieval.question import Reply, check
from retrieval.reader import Reader, open_reader
from retrieval.search import Hit, Searcher
from retrieval.settings import Settings
from retrieval.text import query_terms

NOT_FOUND = "I couldn't find that in the articles I have, so I won't guess. Try rephrasing, or ask about something they cover."

Kind = Literal["answer", "not_found", "small_talk", "hint", "too_long"]


@dataclass(frozen=True)
class Citation:
    n: int
    article: str  # path relative to the corpus folder
    title: str
    chunk_id: str
    start: int  # offsets of the quote in the article text
    end: int
    quote: str
    score: float
    passage: str  # the whole chunk the quote came from, for "show sources"
    passage_start: int
    date: str | None = None  # the article's publication date (YYYY-MM-DD), when known
    url: str | None = None  # where the article was published, when known
    page: int | None = None  # the PDF page the quote starts on


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    abstained: bool = False
    kind: Kind = "answer"
    confidence: float = 0.0
    query: str = ""  # what retrieval searched for (differs from the question on follow-ups)
    signals: dict = field(default_factory=dict, repr=False)  # what the abstention decision saw
    sources: tuple[Hit, ...] = field(default=(), repr=False)


class Answerer:
    """`ask(question, conversation) -> Answer`, over one index."""

    def __init__(
        self,
        searcher: Searcher,
        k: int = 5,
        threshold: float = abstention.DEFAULT_THRESHOLD,
        mode: str = "hybrid",
        reader: Reader | None = None,
    ):
        self.searcher = searcher
        self.index = searcher.index
        self.k = k
        self.threshold = threshold
        self.mode = mode
        self.reader = reader

    @classmethod
    def open(cls, where: str | Path | Location, settings: Settings = Settings(), encoder=None, **options) -> Answerer:
        """Answers from the index at `where` as `settings` say; the encoder and the reader default to the
        ones exported into the index folder (`reader=None`: choose sentences without it)."""
        where = as_location(where)
        if encoder is None:
            from embeddings import query_encoder

            encoder = query_encoder(where.folder)
        if "reader" not in options:
            options["reader"] = open_reader(where.folder)
        searcher = Searcher(open_index(where, model=encoder.name), encoder, fusion=settings.fusion, weights=settings.fusion_weights)
        return cls(searcher, **{"k": settings.top_k, "threshold": settings.abstain_threshold, **options})

    def ask(self, question: str, conversation: Conversation | None = None) -> Answer:
        checked = check(question)
        if isinstance(checked, Reply):
            return Answer(question=question, text=checked.text, abstained=True, kind=checked.kind)
        query = conversation.resolve(checked) if conversation else checked
        answer = self.answer_query(question, query)
        if conversation is not None:
            conversation.remember(checked, query, answer)
        return answer

    def answer_query(self, question: str, query: str) -> Answer:
        terms = query_terms(query)
        idf = self.index.idf(terms)
        hits = self.searcher.search(query, self.k, self.mode, idf=idf)
        signals = abstention.signals(hits, terms, idf)
        found = choice.candidates(query, hits, terms, idf)
        if self.reader is not None:
            hits, signals["reader"] = choice.read(self.reader, query, hits, found)
        confidence = abstention.confidence(signals)
        citations = self.cite(choice.pick(found, self.reader is not None)) if hits and confidence >= self.threshold else []
        common = {"question": question, "confidence": confidence, "query": query, "signals": signals, "sources": tuple(hits)}
        if not citations:
            return Answer(text=NOT_FOUND, abstained=True, kind="not_found", **common)
        text = " ".join(f"{' '.join(c.quote.split())} [{c.n}]" for c in citations)
        return Answer(text=text, citations=tuple(citations), **common)

    def cite(self, chosen: list[Candidate]) -> list[Citation]:
        """Numbered citations of the chosen sentences whose text is still what was indexed: the text at
        the offsets must hash to the sentence's vector key, or it is never cited."""
        citations = []
        for c in chosen:
            chunk = c.hit.chunk
            quote = self.index.article_text(chunk.article_id)[c.start : c.end]
            if not (chunk.start <= c.start < c.end <= chunk.end) or vector_key(self.index.model, quote) != c.key:
                continue
            source = self.index.article_source(chunk.article_id)
            citations.append(
                Citation(
                    len(citations) + 1,
                    chunk.article_id,
                    chunk.title,
                    chunk.id,
                    c.start,
                    c.end,
                    quote,
                    round(c.score, 4),
                    chunk.text,
                    chunk.start,
                    source.date,
                    source.url,
                    source.page_at(c.start),
                )
            )
        return citations
