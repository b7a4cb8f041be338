"""Toxicity: a fastText classifier scores every line; a document is removed when a line
reaches ``threshold`` (``mode: document``), or only those lines are removed (``mode: lines``).

The default model, ``filters/models/toxicity.ftz``, is trained by this project (``make
models``; docs/filters.md, "Models"): positives are the offensive and hateful tweets of
Davidson et al. 2017 (MIT), negatives their clean tweets plus public-domain prose (Gutenberg
novels, State of the Union addresses) cut into tweet-sized chunks, so that ordinary long-form
text is not mistaken for tweets' register. It detects profanity-laden abuse and slurs, the kind
of toxicity that dataset labels; it is not a detector of polite hostility.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from curate.core.classifier import fasttext_lines, load_classifier, positive_scores
from curate.core.document import Document
from filters.base import Decision, Filter, Fraction

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "models", "toxicity.ftz")


@dataclass
class Toxicity(Filter):
    model: str = DEFAULT_MODEL
    threshold: Fraction = 0.5
    mode: str = "document"  # or "lines": remove toxic lines, keep the rest

    name = "toxicity"
    signals = ("max_line_score", "toxic_lines", "chars_removed")
    totals = ("toxic_lines", "chars_removed")

    def __post_init__(self) -> None:
        if self.mode not in ("document", "lines"):
            raise ValueError("mode must be 'document' or 'lines'")
        if not os.path.exists(self.model):
            raise ValueError(f"toxicity model not found: {self.model} (run `make models`)")

    def apply(self, doc: Document) -> Decision:
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        model, _ = load_classifier(self.model)
        lines = [d.text.split("\n") for d in docs]
        prepared = [fasttext_lines(d.text) for d in docs]
        flat = [p for doc_prepared in prepared for p in doc_prepared if p]
        scores = iter(positive_scores(model, flat) if flat else ())
        out = []
        for doc, doc_lines, doc_prepared in zip(docs, lines, prepared, strict=True):
            line_scores = {i: next(scores) for i, p in enumerate(doc_prepared) if p}
            out.append(self._decide(doc.text, doc_lines, line_scores))
        return out

    def _decide(self, text: str, lines: list[str], scores: dict[int, float]) -> Decision:
        toxic = {i for i, s in scores.items() if s >= self.threshold}
        signals = {
            "max_line_score": max(scores.values(), default=0.0),
            "toxic_lines": float(len(toxic)),
            "chars_removed": 0.0,
        }
        if not toxic:
            return Decision(True, None, signals)
        if self.mode == "document":
            return Decision(False, "toxic", signals)
        new = "\n".join(ln for i, ln in enumerate(lines) if i not in toxic)
        signals["chars_removed"] = float(len(text) - len(new))
        if not new.strip():
            return Decision(False, "toxic", signals, new)
        return Decision(True, None, signals, new)
