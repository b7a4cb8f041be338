"""MinHash signatures and LSH banding for near-duplicate detection, through datasketch.

Shingles are word n-grams (default 5) of normalized text: lowercased, punctuation, symbols and
controls dropped, decimal digits mapped to 0. Words are runs of letters, digits and combining
marks; characters of scripts written without spaces (CJK, Kana, Thai, Lao, Khmer, Myanmar) are
one word each. ``normalize_for_shingles`` states the rule one character at a time;
``shingle_hashes`` applies the same rule to whole arrays of code points with numpy (a class table
lookup, word boundaries, and a prefix polynomial hash per word), which is what makes signatures
fast enough to be cheap. The 32-bit shingle values then go through datasketch's own finalizer
and permutations, so signatures, permutations and LSH band/row parameters are datasketch's.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import cache, cached_property

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from curate.core.words import UNSPACED_RANGES

SEP, WORD, UNSPACED, DIGIT = 0, 1, 2, 3
_U64 = np.uint64
_BASE = 0x100000001B3  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 2**64)
_LEN_MIX = _U64(0x9E3779B97F4A7C15)
# odd 64-bit multipliers, one per n-gram position
_MIX = np.array(
    [
        0x9E3779B97F4A7C15,
        0xC2B2AE3D27D4EB4F,
        0x165667B19E3779F9,
        0xD6E8FEB86659FD93,
        0xFF51AFD7ED558CCD,
        0xC4CEB9FE1A85EC53,
        0x94D049BB133111EB,
        0xBF58476D1CE4E5B9,
    ],
    dtype=_U64,
)


def _identity(x):
    return x


def char_class(ch: str) -> int:
    """SEP, WORD, UNSPACED (a word by itself) or DIGIT (a word character that reads as 0)."""
    if ch.isspace() or ch == "_":
        return SEP
    if ch.isdecimal():
        return DIGIT
    if not (ch.isalnum() or unicodedata.category(ch).startswith("M")):
        return SEP  # punctuation, symbols, controls
    if any(lo <= ord(ch) <= hi for lo, hi in UNSPACED_RANGES):
        return UNSPACED
    return WORD


def normalize_for_shingles(text: str) -> list[str]:
    """The words shingles are made of, one character at a time (the reference rule)."""
    words: list[str] = []
    current: list[str] = []
    for ch in text.lower():
        cls = char_class(ch)
        if cls in (WORD, DIGIT):
            current.append("0" if cls == DIGIT else ch)
            continue
        if current:
            words.append("".join(current))
            current = []
        if cls == UNSPACED:
            words.append(ch)
    if current:
        words.append("".join(current))
    return words


@cache
def _class_table() -> np.ndarray:
    """char_class of every code point, vectorized with numpy's string predicates."""
    cps = np.arange(0x110000, dtype=np.uint32)
    chars = cps.view("<U1")
    word = np.strings.isalnum(chars)
    # combining marks are not alnum; none lie in unassigned planes 3-13 or private-use 15-16
    maybe_mark = ~word & ((cps < 0x30000) | ((cps >= 0xE0000) & (cps < 0xF0000)))
    for cp in np.flatnonzero(maybe_mark).tolist():
        if unicodedata.category(chr(cp)).startswith("M"):
            word[cp] = True
    table = np.where(word, WORD, SEP).astype(np.uint8)
    for lo, hi in UNSPACED_RANGES:
        table[lo : hi + 1][word[lo : hi + 1]] = UNSPACED
    table[np.strings.isdecimal(chars)] = DIGIT
    table[np.strings.isspace(chars) | (cps == ord("_"))] = SEP
    return table


class _Powers:
    """BASE**i and BASE**-i modulo 2**64, grown on demand."""

    def __init__(self) -> None:
        self.pow = self.inv = np.ones(1, _U64)

    def upto(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self.pow) < n:
            size = max(n, 2 * len(self.pow), 1 << 16)
            self.pow, self.inv = (
                np.concatenate((np.ones(1, _U64), np.cumprod(np.full(size - 1, b, _U64))))
                for b in (_BASE, _BASE_INV)
            )
        return self.pow, self.inv


_POWERS = _Powers()


def word_hashes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(start, hash) of every word of ``normalize_for_shingles(text)``, in order: starts are
    code point offsets, hashes 64-bit. Vectorized over the whole text."""
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), np.uint32)
    if not len(cp):
        return np.empty(0, np.int64), np.empty(0, _U64)
    cls = _class_table()[cp]
    is_word = cls != SEP
    alone = cls == UNSPACED
    cut = np.ones(len(cp) + 1, bool)  # cut[i]: a word boundary before code point i
    cut[1:-1] = ~is_word[1:] | ~is_word[:-1] | alone[1:] | alone[:-1]
    starts = np.flatnonzero(cut[:-1] & is_word)
    ends = np.flatnonzero(cut[1:] & is_word) + 1
    codes = np.where(cls == DIGIT, ord("0"), cp).astype(_U64)
    pw, inv = _POWERS.upto(len(cp) + 1)
    prefix = np.zeros(len(cp) + 1, _U64)
    with np.errstate(over="ignore"):
        np.cumsum(codes * pw[: len(cp)], out=prefix[1:])
        h = (prefix[ends] - prefix[starts]) * inv[starts]  # sum of code * BASE**offset
        h ^= (ends - starts).astype(_U64) * _LEN_MIX
        return starts, _fmix64(h)


def _fmix64(h: np.ndarray) -> np.ndarray:
    h = h ^ (h >> _U64(33))
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _ngrams(wh: np.ndarray, k: int) -> np.ndarray:
    """64-bit hash of every run of k consecutive word hashes."""
    m = len(wh) - k + 1
    with np.errstate(over="ignore"):
        acc = wh[:m] * _MIX[0]
        for j in range(1, k):
            acc = (acc ^ (acc >> _U64(29))) + wh[j : j + m] * _MIX[j % len(_MIX)]
    return acc


def batch_shingles(texts: list[str], n: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Distinct 32-bit hashes of each text's word n-grams, for many texts in one pass (numpy's
    per-call cost is paid once per batch, not per document). Returns ``(offsets, values)``:
    text i's sorted shingles are ``values[offsets[i]:offsets[i + 1]]``. A text shorter than n
    words is one shingle; a text without words has none."""
    lowered = [t.lower() for t in texts]
    lengths = np.fromiter(map(len, lowered), np.int64, len(lowered))
    doc_starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
    starts, wh = word_hashes("\n".join(lowered))  # a newline never joins two words
    doc = np.searchsorted(doc_starts, starts, side="right") - 1
    counts = np.bincount(doc, minlength=len(texts))
    grams, owners = [], []
    if len(wh) >= n:
        g = _ngrams(wh, n)
        valid = doc[n - 1 :] == doc[: len(g)]  # all n words in one document
        grams.append(g[valid])
        owners.append(doc[: len(g)][valid])
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for i in np.flatnonzero((counts > 0) & (counts < n)).tolist():
        grams.append(_ngrams(wh[first[i] : first[i] + counts[i]], int(counts[i])))
        owners.append(np.array([i]))
    if not grams:
        return np.zeros(len(texts) + 1, np.int64), np.empty(0, np.uint32)
    keys = np.concatenate(owners).astype(_U64) << _U64(32)
    keys |= np.concatenate(grams) >> _U64(32)
    keys.sort()  # then drop repeats: faster than np.unique's hash table here
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    offsets = np.searchsorted(keys >> _U64(32), np.arange(len(texts) + 1, dtype=_U64))
    return offsets.astype(np.int64), (keys & _U64(0xFFFFFFFF)).astype(np.uint32)


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """Distinct 32-bit hashes of the word n-grams of one text."""
    return batch_shingles([text], n)[1]


def shingle_set(text: str, n: int = 5) -> set[int]:
    return set(shingle_hashes(text, n).tolist())


def true_jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingle_set(a, n), shingle_set(b, n)
    return len(sa & sb) / len(sa | sb) if sa or sb else 1.0


@dataclass(frozen=True)
class LSHParams:
    """``num_perm`` permutations split into ``bands`` x ``rows``, chosen as datasketch's
    MinHashLSH does, by minimizing the weighted false-positive and false-negative rates at
    ``candidate_threshold``. Candidates are verified at ``threshold`` afterwards, so the
    defaults lean to recall: at 0.7 with weights 0.1/0.9, 20 bands x 6 rows make a pair of
    Jaccard 0.8 a candidate with probability 0.998 (equal weights at 0.8 give 0.40)."""

    threshold: float = 0.8
    num_perm: int = 128
    ngram: int = 5
    seed: int = 1
    kind = b"minhash"  # what the signature table holds (not a field: fixed per class)
    candidate_threshold: float = 0.7
    false_positive_weight: float = 0.1
    false_negative_weight: float = 0.9

    @staticmethod
    def similarity(a: tuple, b: tuple) -> float:
        """Exact Jaccard of two (signature, shingles) rows when the shingle sets were kept,
        else the MinHash estimate."""
        (sig_a, sh_a), (sig_b, sh_b) = a, b
        if sh_a is not None and sh_b is not None:
            return set_jaccard(sh_a, sh_b)
        return estimated_jaccard(sig_a, sig_b)

    @cached_property
    def bands_rows(self) -> tuple[int, int]:
        return _optimal_param(
            self.candidate_threshold,
            self.num_perm,
            self.false_positive_weight,
            self.false_negative_weight,
        )

    @cached_property
    def _template(self) -> MinHash:
        return MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=_identity)

    def minhash(self, text: str) -> MinHash:
        """The datasketch MinHash of the text, built with ``update_batch``."""
        m = self._template.copy()
        m.update_batch(shingle_hashes(text, self.ngram))
        return m

    def signature(self, text: str) -> np.ndarray:
        """``minhash(text).hashvalues``."""
        return self.sign([text])[0][0]

    def sign(
        self, texts: list[str], chunk_chars: int = 1 << 16
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Signatures (one row per text) and each text's sorted distinct shingles, about a
        64k characters at a time (numpy arrays that stay in cache)."""
        sigs: list[np.ndarray] = [np.empty((0, self.num_perm), np.uint32)]
        shingles: list[np.ndarray] = []
        i = 0
        while i < len(texts):
            j, size = i + 1, len(texts[i])
            while j < len(texts) and size + len(texts[j]) <= chunk_chars:
                size += len(texts[j])
                j += 1
            offsets, values = batch_shingles(texts[i:j], self.ngram)
            sigs.append(self.signatures(offsets, values))
            shingles.extend(values[offsets[k] : offsets[k + 1]] for k in range(j - i))
            i = j
        return np.concatenate(sigs), shingles

    def signatures(self, offsets: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Signatures of many shingle sets (as from ``batch_shingles``), one row each: datasketch's
        own finalizer and permutations applied as one matrix operation per 32k shingles (its
        ``update_batch`` does the same per document, after a Python loop over the shingles)."""
        a, b = self._template.permutations
        out = np.tile(self._template.hashvalues, (len(offsets) - 1, 1))
        fh = _fmix(values, 32)
        for p in range(0, len(values), 1 << 15):
            q = min(p + (1 << 15), len(values))
            docs = np.arange(np.searchsorted(offsets, p, "right") - 1, np.searchsorted(offsets, q))
            docs = docs[offsets[docs + 1] > offsets[docs]]  # the non-empty texts in [p, q)
            with np.errstate(over="ignore"):
                phv = np.multiply.outer(a, fh[p:q])
                phv += b[:, None]
            mins = np.minimum.reduceat(phv, np.maximum(offsets[docs], p) - p, axis=1)
            out[docs] = np.minimum(out[docs], mins.T)
        return out

    def sign_documents(self, docs: list) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.sign([d.text for d in docs])

    def band_keys(self, sig: np.ndarray) -> list[bytes]:
        """One key per band: band number and a 64-bit hash of its rows (as MinHashLSH's H).
        No keys for a text without shingles (only punctuation or symbols): every such signature
        is the same, and "!!!" is no near copy of "???" (exact dedup still applies)."""
        if np.array_equal(sig, self._template.hashvalues):
            return []
        b, r = self.bands_rows
        data = np.ascontiguousarray(sig[: b * r]).tobytes()
        step = r * sig.itemsize
        return [
            i.to_bytes(2, "big") + xxhash.xxh3_64_digest(data[i * step : (i + 1) * step])
            for i in range(b)
        ]


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a == b)) / len(a)


def set_jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard of two sorted arrays of distinct shingle hashes."""
    if not len(a) and not len(b):
        return 1.0
    inter = len(np.intersect1d(a, b, assume_unique=True))
    return inter / (len(a) + len(b) - inter)
