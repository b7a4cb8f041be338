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
the n-gram measures cost a few vectorized passes rather than Python loops, and the longer
duplicated n-grams are skipped as soon as a length has none.
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


def _sorted_runs(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions sorted by value, and a flag on each sorted element that starts a new value."""
    order = np.argsort(h)
    sorted_h = h[order]
    starts = np.empty(len(h), bool)
    starts[0] = True
    np.not_equal(sorted_h[1:], sorted_h[:-1], out=starts[1:])
    return order, starts


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
        # equal words, equal ids: str hashes are computed in C and cached on the strings
        ids = np.fromiter(map(hash, words), np.int64, len(words)).view(np.uint64)
        lens = np.fromiter(map(len, words), np.int64, len(words))
        total = lens.sum()
        prefix = np.concatenate(([0], np.cumsum(lens)))
        h = ids
        L = len(words)
        for n in range(2, 11):
            if L < n + (n > 4):  # a duplicated n-gram needs n + 1 words
                break
            with np.errstate(over="ignore"):
                h = h[:-1] * _MULT + ids[n - 1 :]  # hash of the n-gram starting at each word
            order, starts = _sorted_runs(h)
            if n <= 4:
                begins = np.flatnonzero(starts)
                counts = np.diff(begins, append=len(h))
                top = np.argmax(counts)  # ties: the n-gram that sorts first by hash
                if counts[top] > 1:
                    first = order[begins[top] : begins[top] + counts[top]].min()
                    span = prefix[first + n] - prefix[first]
                    out[f"top_{n}gram_char_frac"] = float(counts[top] * span / total)
                continue
            alone = starts & np.append(starts[1:], True)  # a value seen once
            if alone.all():
                break  # no repeated n-gram, so none longer either
            positions = order[~alone]
            cover = np.bincount(positions, minlength=L + 1)
            cover -= np.bincount(positions + n, minlength=L + 1)
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
