"""Gopher repetition rules (Rae et al. 2021, "Scaling Language Models: Methods, Analysis &
Insights from Training Gopher", appendix A.1.1, table A1).

Published defaults, each a parameter:
- duplicate lines: at most 30% of lines, at most 20% of characters
- duplicate paragraphs: at most 30% of paragraphs, at most 20% of characters
- most frequent word 2-, 3-, 4-gram: at most 20%, 18%, 16% of the word characters
- words covered by repeated 5- to 10-grams: at most 15%, 14%, 13%, 12%, 11%, 10% of the word
  characters

A line or paragraph counts as a duplicate from its second occurrence on. When several n-grams
are the most frequent, the longest in characters counts. Words come from
``curate.core.words.split_words`` (CJK and Thai per character); n-grams are hashed with numpy, so
the n-gram measures cost a few vectorized passes rather than Python loops, and the longer
duplicated n-grams are skipped as soon as a length has none.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from curate.core.document import Document
from curate.core.words import document_words
from filters.base import Decision, Filter, Fraction

_PARAGRAPHS = re.compile(r"\n\s*\n")
_MULT = np.uint64(0x9E3779B97F4A7C15)
_MULT2 = np.uint64(0xC2B2AE3D27D4EB4F)  # salts an n-gram hash with its document


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
    max_dup_line_frac: Fraction = 0.30
    max_dup_para_frac: Fraction = 0.30
    max_dup_line_char_frac: Fraction = 0.20
    max_dup_para_char_frac: Fraction = 0.20
    max_top_ngram_char_frac: dict[int, Fraction] = field(
        default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16}
    )
    max_dup_ngram_char_frac: dict[int, Fraction] = field(
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
        return self.apply_batch([doc])[0]

    def apply_batch(self, docs: list[Document]) -> list[Decision]:
        out = []
        ngrams = _ngram_signals([document_words(d.text) for d in docs])
        for doc, s in zip(docs, ngrams, strict=True):
            s.update(_line_signals(doc.text))
            reason = self._reason(s)
            out.append(Decision(keep=reason is None, reason=reason, signals=s))
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


def _line_signals(text: str) -> dict[str, float]:
    total_chars = max(len(text), 1)
    lines = [ln for ln in text.split("\n") if ln.strip()]
    paras = [p for p in _PARAGRAPHS.split(text) if p.strip()]
    dl, dl_chars = _duplicates(lines)
    dp, dp_chars = _duplicates(paras)
    return {
        "dup_line_frac": dl / len(lines) if lines else 0.0,
        "dup_para_frac": dp / len(paras) if paras else 0.0,
        "dup_line_char_frac": dl_chars / total_chars,
        "dup_para_char_frac": dp_chars / total_chars,
    }


def _ngram_signals(docs: list[tuple[str, ...]]) -> list[dict[str, float]]:
    """The n-gram measures of a batch of documents (their words). The words of all documents
    are concatenated and an n-gram's hash includes its document, so a few numpy calls per
    n-gram size serve the whole batch. An n-gram can only repeat where the (n-1)-grams at its
    start and one word later both repeat, so each size sorts only those candidates: a
    shrinking fraction of the words."""
    out = [{f"top_{n}gram_char_frac": 0.0 for n in (2, 3, 4)} for _ in docs]
    for o in out:
        o.update({f"dup_{n}gram_char_frac": 0.0 for n in range(5, 11)})
    words = [w for d in docs for w in d]
    if len(words) < 2:
        return out
    sizes = np.fromiter(map(len, docs), np.int64, len(docs))
    ends = np.cumsum(sizes)  # one past each document's last word
    doc_of = np.repeat(np.arange(len(docs)), sizes)
    # equal words, equal ids: str hashes are computed in C and cached on the strings
    ids = np.fromiter(map(hash, words), np.int64, len(words)).view(np.uint64)
    lens = np.fromiter(map(len, words), np.int64, len(words))
    totals = np.maximum(np.bincount(doc_of, weights=lens, minlength=len(docs)), 1)
    prefix = np.concatenate(([0], np.cumsum(lens)))
    salt = doc_of.astype(np.uint64) * _MULT2
    h = ids
    repeated = _repeated(ids ^ salt)
    for n in range(2, 11):
        with np.errstate(over="ignore"):
            h = h[:-1] * _MULT + ids[n - 1 :]  # hash of the n-gram starting at each word
        cand = np.flatnonzero(repeated[: len(h)] & repeated[1 : len(h) + 1])
        cand = cand[cand + n <= ends[doc_of[cand]]]  # within one document
        if not len(cand):
            break  # no repeated n-gram, so none longer either
        order, first_of_run = _sorted_runs(h[cand] ^ salt[cand])
        begins = np.flatnonzero(first_of_run)
        counts = np.diff(begins, append=len(cand))
        positions = cand[order]
        again = positions[np.repeat(counts > 1, counts)]
        repeated = np.zeros(len(h), bool)
        repeated[again] = True
        if n <= 4:  # per document, the most frequent n-gram; among ties, the longest
            one = positions[begins]  # one occurrence of each distinct n-gram
            span = prefix[one + n] - prefix[one]
            best = np.zeros(len(docs), np.int64)
            np.maximum.at(best, doc_of[one], (counts << 32) | span)
            for d in np.flatnonzero((best >> 32) > 1):
                frac = (best[d] >> 32) * (best[d] & 0xFFFFFFFF) / totals[d]
                out[d][f"top_{n}gram_char_frac"] = float(frac)
            continue
        if not len(again):
            break
        cover = np.bincount(again, minlength=len(words) + 1)
        cover -= np.bincount(again + n, minlength=len(words) + 1)
        covered = np.flatnonzero(np.cumsum(cover[:-1]) > 0)
        chars = np.bincount(doc_of[covered], weights=lens[covered], minlength=len(docs))
        for d in np.flatnonzero(chars):
            out[d][f"dup_{n}gram_char_frac"] = float(chars[d] / totals[d])
    return out


def _repeated(keys: np.ndarray) -> np.ndarray:
    """A flag per position: its key occurs at another position too."""
    order, first_of_run = _sorted_runs(keys)
    counts = np.diff(np.flatnonzero(first_of_run), append=len(keys))
    flags = np.zeros(len(keys), bool)
    flags[order[np.repeat(counts > 1, counts)]] = True
    return flags
