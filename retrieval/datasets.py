"""Public evaluation sets -> corpus folders the normal indexer reads, plus their questions."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    answers: tuple[str, ...]  # empty for unanswerable questions
    article: str  # corpus-relative path of the article it was written about
    half: str = "train"  # squad_half of its article: the reader and the fitted models learn only from "train"


HALVES = ("train", "eval")


def squad_half(title: str) -> str:
    """A fixed split of SQuAD's articles: models are fitted on "train", every figure is reported on "eval"."""
    return HALVES[int(hashlib.md5(title.encode("utf-8")).hexdigest(), 16) % 2]


def _file_name(title: str) -> str:
    return re.sub(r"[^\w.-]+", "_", title).strip("_")[:100] + ".txt"


def write_squad_corpus(data_path: str | Path, folder: Path) -> list[Question]:
    """One article per SQuAD article (title line, then its paragraphs); questions in file order."""
    data = json.loads(Path(data_path).read_text(encoding="utf-8"))["data"]
    folder.mkdir(parents=True, exist_ok=True)
    questions = []
    for article in data:
        title = article["title"].replace("_", " ")
        name = _file_name(article["title"])
        text = title + "\n\n" + "\n\n".join(p["context"].strip() for p in article["paragraphs"]) + "\n"
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa.get("answers", []) if a["text"].strip()))
                questions.append(Question(qa["id"], qa["question"], answers, name, squad_half(article["title"])))
    return questions


def write_beir_corpus(data_dir: str | Path, folder: Path) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """BEIR corpus -> one file per document; returns test queries and qrels keyed by file name."""
    data_dir = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for line in (data_dir / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        doc = json.loads(line)
        path = folder / f"{doc['_id']}.txt"
        text = f"{(doc.get('title') or doc['_id']).strip()}\n\n{doc['text'].strip()}\n"
        if not path.exists():
            path.write_text(text, encoding="utf-8")
    qrels: dict[str, dict[str, int]] = {}
    for line in (data_dir / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc_id, score = line.split("\t")
        if int(score) > 0:
            qrels.setdefault(qid, {})[f"{doc_id}.txt"] = int(score)
    queries = {}
    for line in (data_dir / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        query = json.loads(line)
        if query["_id"] in qrels:
            queries[query["_id"]] = query["text"]
    return queries, qrels
