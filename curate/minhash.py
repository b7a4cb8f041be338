"""MinHash signatures and LSH banding for near-duplicate detection, through datasketch.

Shingles are word n-grams (default 5) of normalized text: lowercased, punctuation and symbols
removed, digits mapped to 0, words split by ``filters.words.split_words`` (so CJK and Thai,
written without spaces, shingle per character). Each distinct word is hashed once with xxh3;
n-gram hashes are combined with numpy, and the resulting 32-bit values go through datasketch's
own ``MinHash.update_batch`` (an identity ``hashfunc``), so signatures, permutations and LSH
band/row parameters are datasketch's.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import xxhash
from datasketch import MinHash
from datasketch.lsh import _optimal_param
from datasketch.minhash import _fmix

from filters.words import split_words

_PUNCT = re.compile(r"[^\w\s]|_")
_DIGIT = re.compile(r"\d")
_ASCII_TABLE = bytes.maketrans(
    (string.punctuation + string.digits).encode(),
    b" " * len(string.punctuation) + b"0" * len(string.digits),
)
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
    dtype=np.uint64,
)


def _identity(x):
    return x


def normalize_for_shingles(text: str) -> list[str]:
    """Lowercase words with punctuation and symbols removed and digits mapped to 0."""
    text = text.lower()
    if text.isascii():  # bytes.translate: a C loop over a 256-entry table
        return text.encode().translate(_ASCII_TABLE).decode().split()
    return split_words(_DIGIT.sub("0", _PUNCT.sub(" ", text)))


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """Distinct 32-bit hashes of the word n-grams; a text shorter than n words is one shingle."""
    words = normalize_for_shingles(text)
    if not words:
        return np.empty(0, dtype=np.uint32)
    vocab = dict.fromkeys(words)  # distinct words in first-seen order, at C speed
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.fromiter(map(index.__getitem__, words), np.int64, len(words))
    hashes = map(xxhash.xxh3_64_intdigest, map(str.encode, vocab))
    table = np.fromiter(hashes, np.uint64, len(vocab))
    wh = table[ids]
    k = min(n, len(wh))
    m = len(wh) - k + 1
    with np.errstate(over="ignore"):
        acc = wh[:m] * _MIX[0]
        for j in range(1, k):
            acc = (acc ^ (acc >> np.uint64(29))) + wh[j : j + m] * _MIX[j % len(_MIX)]
    return np.unique((acc >> np.uint64(32)).astype(np.uint32))


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
    candidate_threshold: float = 0.7
    false_positive_weight: float = 0.1
    false_negative_weight: float = 0.9

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
        """``minhash(text).hashvalues``, computed in one vectorized step with datasketch's own
        finalizer and permutations (its ``update_batch`` loops over shingles in Python)."""
        return self.signature_of(shingle_hashes(text, self.ngram))

    def signature_of(self, hv: np.ndarray) -> np.ndarray:
        sig = self._template.hashvalues.copy()
        if len(hv):
            a, b = self._template.permutations
            with np.errstate(over="ignore"):
                phv = _fmix(hv.reshape(-1, 1), 32) * a + b
            np.minimum(sig, phv.min(axis=0), out=sig)
        return sig

    def band_keys(self, sig: np.ndarray) -> list[bytes]:
        """One key per band: band number and a 64-bit hash of its rows (as MinHashLSH's H)."""
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
