"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1, table A1).

Published defaults, each a parameter:
- duplicate lines: at most 30% of lines, at most 20% of characters
- duplicate paragraphs: at most 30% of paragraphs, at most 20% of characters
- most frequent word 2-, 3-, 4-gram: at most 20%, 18%, 16% of the word characters
- words covered by repeated 5- to 10-grams: at most 15%, 14%, 13%, 12%, 11%, 10% of the word
  characters

A line or paragraph counts as a duplicate from its second occurrence on. Words come from
``filters.words.split_words`` (CJK and Thai per character); n-grams are hashed with numpy, so
the ten n-gram measures cost a few vectorized passes rather than Python loops.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from curate.schema import Document
from filters.base import Decision, Filter
from filters.words import split_words

_PARAGRAPHS = re.compile(r"\n\s*\n")
_MULT = np.uint64(0x9E3779B97F4A7C15)


def _duplicates(units: list[str]) -> tuple[int, int]:
    """Number and characters of the units that repeat an earlier one."""
    n = chars = 0
    for unit, count in Counter(units).items():
        if count > 1:
            n += count - 1
            chars += (count - 1) * len(unit)
    return n, chars


def _ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    m = len(ids) - n + 1
    acc = ids[:m].copy()
    with np.errstate(over="ignore"):
        for j in range(1, n):
            acc = acc * _MULT + ids[j : j + m]
    return acc


@dataclass
class GopherRepetition(Filter):
    max_dup_line_frac: float = 0.30
    max_dup_para_frac: float = 0.30
    max_dup_line_char_frac: float = 0.20
    max_dup_para_char_frac: float = 0.20
    max_top_ngram_char_frac: dict[int, float] = field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16}
    )
    max_dup_ngram_char_frac: dict[int, float] = field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )

    name = "gopher_repetition"
    signals = (
        "dup_line_frac",
        "dup_para_frac",
        "dup_line_char_frac",
        "dup_para_char_frac",
        *(f"top_{n}gram_char_frac" for n in (2, 3, 4)),
        *(f"dup_{n}gram_char_frac" for n in range(5, 11)),
    )

    def __post_init__(self) -> None:
        self.max_top_ngram_char_frac = {int(k): v for k, v in self.max_top_ngram_char_frac.items()}
        self.max_dup_ngram_char_frac = {int(k): v for k, v in self.max_dup_ngram_char_frac.items()}
        known = {2, 3, 4} | set(range(5, 11))
        if not set(self.max_top_ngram_char_frac) | set(self.max_dup_ngram_char_frac) <= known:
            raise ValueError("n-gram sizes must be 2-4 (top) and 5-10 (duplicated)")

    def apply(self, doc: Document) -> Decision:
        text = doc.text
        total_chars = max(len(text), 1)
        lines = [ln for ln in text.split("\n") if ln.strip()]
        paras = [p for p in _PARAGRAPHS.split(text) if p.strip()]
        dl, dl_chars = _duplicates(lines)
        dp, dp_chars = _duplicates(paras)
        s = {
            "dup_line_frac": dl / len(lines) if lines else 0.0,
            "dup_para_frac": dp / len(paras) if paras else 0.0,
            "dup_line_char_frac": dl_chars / total_chars,
            "dup_para_char_frac": dp_chars / total_chars,
        }
        s.update(self._ngram_signals(split_words(text)))
        reason = self._reason(s)
        return Decision(keep=reason is None, reason=reason, signals=s)

    def _ngram_signals(self, words: list[str]) -> dict[str, float]:
        out = {f"top_{n}gram_char_frac": 0.0 for n in (2, 3, 4)}
        out.update({f"dup_{n}gram_char_frac": 0.0 for n in range(5, 11)})
        if len(words) < 2:
            return out
        index: dict[str, int] = {}
        ids = np.fromiter((index.setdefault(w, len(index)) + 1 for w in words), np.uint64)
        lens = np.fromiter(map(len, words), np.int64, len(words))
        total = lens.sum()
        prefix = np.concatenate(([0], np.cumsum(lens)))
        for n in (2, 3, 4):
            if len(words) < n:
                continue
            _, first, counts = np.unique(
                _ngram_hashes(ids, n), return_index=True, return_counts=True
            )
            top = np.argmax(counts)  # ties: the n-gram that sorts first by hash
            if counts[top] < 2:
                continue  # no n-gram repeats
            start = first[top]
            out[f"top_{n}gram_char_frac"] = float(
                counts[top] * (prefix[start + n] - prefix[start]) / total
            )
        for n in range(5, 11):
            if len(words) < n + 1:
                continue
            _, inverse, counts = np.unique(
                _ngram_hashes(ids, n), return_inverse=True, return_counts=True
            )
            starts = np.flatnonzero(counts[inverse] > 1)
            if not len(starts):
                continue
            cover = np.zeros(len(words) + 1, np.int64)
            np.add.at(cover, starts, 1)
            np.add.at(cover, starts + n, -1)
            covered = np.cumsum(cover[:-1]) > 0
            out[f"dup_{n}gram_char_frac"] = float(lens[covered].sum() / total)
        return out

    def _reason(self, s: dict[str, float]) -> str | None:
        if s["dup_line_frac"] > self.max_dup_line_frac:
            return "dup_line_frac"
        if s["dup_para_frac"] > self.max_dup_para_frac:
            return "dup_para_frac"
        if s["dup_line_char_frac"] > self.max_dup_line_char_frac:
            return "dup_line_char_frac"
        if s["dup_para_char_frac"] > self.max_dup_para_char_frac:
            return "dup_para_char_frac"
        for n, limit in sorted(self.max_top_ngram_char_frac.items()):
            if s[f"top_{n}gram_char_frac"] > limit:
                return f"top_{n}gram_char_frac"
        for n, limit in sorted(self.max_dup_ngram_char_frac.items()):
            if s[f"dup_{n}gram_char_frac"] > limit:
                return f"dup_{n}gram_char_frac"
        return None
