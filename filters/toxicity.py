"""Toxicity: a fastText classifier scores every line; with ``mode: document`` a page is removed
when at least ``min_lines`` lines reach ``threshold``, or when the lines that do hold at least
``min_share`` of its characters (one toxic line in a long page is more often a false alarm than
abuse: BENCHMARKS.md, "Toxicity on documents"); ``mode: lines`` removes only those lines.

The default model, ``filters/models/toxicity.ftz``, is trained by this project (``make
models``; docs/filters.md, "Models") on nine permissively licensed labeled sets from Twitter,
Gab, Reddit, Wikipedia talk pages and adversarial and implicit hate collections (the labels
"toxic", "offensive", "hateful" or "sexist" count as positive), with public-domain prose cut
into short chunks as extra negatives. It detects insults, slurs, profanity-laden abuse and much
explicit hate speech; it misses most implicit or politely worded hostility (BENCHMARKS.md,
"Toxicity across platforms"). Its sources are English, and on other languages it misfires (a
German news sentence scores 0.99), so by default only English pages are scored (``languages``:
the language langid found, else detected here); the others are kept with null signals.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from curate.core.classifier import (
    check_label,
    load_classifier,
    positive_scores,
    prepared_lines,
    uses_lexicon,
)
from curate.core.document import Document
from filters.base import Decision, Filter, Fraction

DEFAULT_MODEL = os.path.join(os.path.dirname(__file__), "models", "toxicity.ftz")


@dataclass
class Toxicity(Filter):
    model: str = DEFAULT_MODEL
    threshold: Fraction = 0.5  # a line's score
    mode: str = "document"  # or "lines": remove toxic lines, keep the rest
    min_lines: int = 2  # document mode: toxic lines that remove a page (0: never by count)
    min_share: Fraction = 0.25  # ... or the share of its characters they hold
    label: str = "pos"  # the model's label for toxic (a user's model may say "toxic")
    # the model's languages: a page in another is not scored (signals null); None scores all
    languages: tuple[str, ...] | None = ("en",)

    name = "toxicity"
    signals = ("max_line_score", "toxic_lines", "toxic_share", "chars_removed")
    totals = ("toxic_lines", "chars_removed")

    def __post_init__(self) -> None:
        if self.mode not in ("document", "lines"):
            raise ValueError("mode must be 'document' or 'lines'")
        if not os.path.exists(self.model):
            raise ValueError(f"toxicity model not found: {self.model} (run `make models`)")
        check_label(load_classifier(self.model)[0], self.model, self.label)
        if self.languages is not None:
            from filters.langid import check_languages

            self.languages = tuple(self.languages)
            check_languages(self.languages)

    def apply(self, doc: Document) -> Decision:
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        if self.languages is None:
            return self._scored(docs)
        langs = self._languages(docs)
        scored = [i for i, lang in enumerate(langs) if lang in self.languages]
        out = [Decision(True, None, {}) for _ in docs]  # kept unscored: signals stay null
        for i, d in zip(scored, self._scored([docs[i] for i in scored]), strict=True):
            out[i] = d
        return out

    def _languages(self, docs: list[Document]) -> list[str | None]:
        """The language langid put in a document's metadata, else detected here from the
        first 500 characters (a quarter of langid's cost). A guess under 0.5 is taken as the
        model's language: a short or mixed text is scored."""
        from filters.langid import detect

        langs = [d.metadata.get("language") for d in docs]
        unknown = [i for i, lang in enumerate(langs) if not isinstance(lang, str)]
        if unknown:
            for i, (lang, p) in zip(
                unknown, detect([docs[i].text for i in unknown], 500), strict=True
            ):
                langs[i] = lang if p >= 0.5 else self.languages[0]
        return langs

    def _scored(self, docs: list[Document]) -> list[Decision]:
        if not docs:
            return []
        model, _ = load_classifier(self.model)
        lines = [d.text.split("\n") for d in docs]
        lexicon = uses_lexicon(model)  # a model trained with the word-list feature
        prepared = [prepared_lines(d.text, lexicon) for d in docs]
        flat = [p for doc_prepared in prepared for p in doc_prepared if p]
        scores = iter(positive_scores(model, flat, self.label) if flat else ())
        out = []
        for doc, doc_lines, doc_prepared in zip(docs, lines, prepared, strict=True):
            line_scores = {i: next(scores) for i, p in enumerate(doc_prepared) if p}
            out.append(self._decide(doc.text, doc_lines, line_scores))
        return out

    def removes(self, toxic_lines: int, share: float) -> bool:
        """Document mode's rule: a page with ``toxic_lines`` lines at the threshold, holding
        ``share`` of its characters, is removed."""
        by_count = bool(self.min_lines) and toxic_lines >= self.min_lines
        return toxic_lines > 0 and (by_count or share >= self.min_share)

    def _decide(self, text: str, lines: list[str], scores: dict[int, float]) -> Decision:
        toxic = {i for i, s in scores.items() if s >= self.threshold}
        scored = sum(len(lines[i]) for i in scores)
        share = sum(len(lines[i]) for i in toxic) / scored if scored else 0.0
        signals = {
            "max_line_score": max(scores.values(), default=0.0),
            "toxic_lines": float(len(toxic)),
            "toxic_share": share,
            "chars_removed": 0.0,
        }
        if not toxic:
            return Decision(True, None, signals)
        if self.mode == "document":
            keep = not self.removes(len(toxic), share)
            return Decision(keep, None if keep else "toxic", signals)
        new = "\n".join(ln for i, ln in enumerate(lines) if i not in toxic)
        signals["chars_removed"] = float(len(text) - len(new))
        if not new.strip():
            return Decision(False, "toxic", signals, new)
        return Decision(True, None, signals, new)
