"""Benchmark items planted into demo articles, the way web copies show them.

The items are a small sample of GSM8K and MMLU test questions (MIT licence, NOTICE-eval-items.md)
shipped in ``eval_items.jsonl``; the demo writes them under ``benchmarks/`` for the build's
``decontamination:`` section and plants one item per contaminated article, changed in one of
``CHANGES``. Which plant still shares a full n-gram with its item is for the tests to work out.
"""

from __future__ import annotations

import html
import json
import random
import re
from pathlib import Path

ITEMS = Path(__file__).with_name("eval_items.jsonl")
CHANGES = (
    "verbatim",
    "case",
    "line_breaks",
    "punctuation",
    "html_entities",
    "choice_numbering",
    "question_only",
    "answer_only",
)


def load_items() -> list[dict]:
    return [json.loads(line) for line in ITEMS.read_text().splitlines()]


def write_benchmarks(out: Path, items: list[dict]) -> list[str]:
    """One JSONL file per benchmark, as a user's evaluation files would be."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in sorted({it["benchmark"] for it in items}):
        path = out / f"{name}_sample.jsonl"
        rows = [it for it in items if it["benchmark"] == name]
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        paths.append(str(path))
    return paths


def changed(item: dict, change: str, rng: random.Random) -> str:
    text = item["text"]
    if change == "case":
        return text.upper()
    if change == "line_breaks":
        words = text.split()
        step = rng.randint(6, 11)
        return "\n".join(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    if change == "punctuation":
        return re.sub(r"[.,?!:;$()']", "", text).replace("\n", " - ")
    if change == "html_entities":
        return html.escape(text).replace(" ", "&nbsp;", 3)
    if change == "choice_numbering":  # A./B./... -> (1)/(2)/...; GSM8K's steps numbered
        if "choices" in item:
            return re.sub(r"(?m)^([A-D])\. |(Answer: )([A-D])\. ", _renumber, text)
        return "\n".join(f"{i}) {ln}" for i, ln in enumerate(text.split("\n"), 1))
    if change == "question_only":
        return item["question"]
    if change == "answer_only":
        if "choices" in item:
            return f"The answer is {item['choices'][item['answer']]}."
        return item["answer"]
    return text


def _renumber(m: re.Match) -> str:
    letter = m.group(1) or m.group(3)
    number = f"({'ABCD'.index(letter) + 1})"
    return f"{m.group(2)}{number} " if m.group(2) else f"{number} "


def plant(article: str, passage: str, rng: random.Random) -> str:
    """The passage as a paragraph of the article, at a random place."""
    paras = article.split("\n\n")
    paras.insert(rng.randint(0, len(paras)), passage)
    return "\n\n".join(paras)
