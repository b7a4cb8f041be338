"""FineWeb's quality rules (Penedo et al. 2024, "The FineWeb Datasets: Decanting the Web for
the Finest Text Data at Scale", section 3.5, "custom heuristic filters").

Published defaults, each a parameter; a page is removed when
- the fraction of its lines that end in punctuation is at most 0.12,
- the fraction of its characters in duplicated lines is at least 0.1,
- the fraction of its lines shorter than 30 characters is at least 0.67.

DataTrove's implementation differs in two places; we follow the paper and say so: it uses a
duplicated-character threshold of 0.01, and it adds a fourth rule (newlines per word above 0.3)
that the paper does not list; here that rule is ``max_newline_word_ratio``, off by default.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from curate.core.document import Document
from curate.core.words import document_words
from filters.base import Decision, Filter, Fraction
from filters.c4 import TERMINAL


@dataclass
class FineWebQuality(Filter):
    max_line_punct_ratio: Fraction = 0.12  # removed at or below
    min_dup_line_char_ratio: Fraction = 0.1  # removed at or above
    min_short_line_ratio: Fraction = 0.67  # removed at or above
    short_line_chars: int = 30
    max_newline_word_ratio: Fraction | None = None

    name = "fineweb_quality"
    signals = ("line_punct_ratio", "dup_line_char_ratio", "short_line_ratio", "newline_word_ratio")

    def apply(self, doc: Document) -> Decision:
        text = doc.text
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if not lines:
            return Decision(False, "empty", dict.fromkeys(self.signals, 0.0))
        chars = max(len(text.replace("\n", "")), 1)
        dup_chars = sum((c - 1) * len(ln) for ln, c in Counter(lines).items() if c > 1)
        words = len(document_words(text))
        s = {
            "line_punct_ratio": sum(ln.endswith(TERMINAL) for ln in lines) / len(lines),
            "dup_line_char_ratio": dup_chars / chars,
            "short_line_ratio": sum(len(ln) < self.short_line_chars for ln in lines) / len(lines),
            "newline_word_ratio": text.count("\n") / max(words, 1),
        }
        reason = None
        if s["line_punct_ratio"] <= self.max_line_punct_ratio:
            reason = "line_punct_ratio"
        elif s["dup_line_char_ratio"] >= self.min_dup_line_char_ratio:
            reason = "dup_line_char_ratio"
        elif s["short_line_ratio"] >= self.min_short_line_ratio:
            reason = "short_line_ratio"
        elif (
            self.max_newline_word_ratio is not None
            and s["newline_word_ratio"] > self.max_newline_word_ratio
        ):
            reason = "newline_word_ratio"
        return Decision(reason is None, reason, s)
