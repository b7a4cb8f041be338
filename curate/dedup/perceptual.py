"""Perceptual near-duplicate candidates for images: pHash bands by the pigeonhole principle.

Two 64-bit hashes within Hamming distance ``d`` agree exactly on at least one of ``d + 1``
disjoint bit ranges, so banding the hash into ``d + 1`` ranges finds every such pair (recall 1
before verification); each candidate's true distance is then checked. The bands are narrower
as ``d`` grows (8 -> 7-bit bands), so buckets hold more unrelated images: keep ``d`` as small as
the variants you want caught allow (BENCHMARKS.md measures the trade-off on real images).

The interface matches ``curate.dedup.minhash.LSHParams`` where the build uses it:
``sign_documents``, ``band_keys``, ``num_perm`` (two uint32 words per hash in the signature
table) and ``kind``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curate.core.document import Document
from curate.core.images import hamming

BITS = 64
KIND = b"phash"


@dataclass(frozen=True)
class PerceptualParams:
    max_distance: int = 4
    num_perm: int = 2  # uint32 words per signature row
    kind = KIND  # what the signature table holds

    @property
    def threshold(self) -> float:
        return similarity_of(self.max_distance)

    @staticmethod
    def similarity(a: tuple, b: tuple) -> float:
        """1 - Hamming distance / 64 of two (signature, None) rows."""
        return hash_similarity(a[0], b[0])

    def ranges(self) -> list[tuple[int, int]]:
        n = self.max_distance + 1
        cuts = [round(i * BITS / n) for i in range(n + 1)]
        return list(zip(cuts, cuts[1:], strict=False))

    def sign_documents(self, docs: list[Document]) -> tuple[np.ndarray, None]:
        """One row per document: its first image's pHash as (high, low) uint32 words."""
        ph = np.array([d.images[0].phash if d.images else 0 for d in docs], np.uint64)
        words = np.stack([ph >> np.uint64(32), ph & np.uint64(0xFFFFFFFF)], axis=1)
        return words.astype(np.uint32), None

    def band_keys(self, sig: np.ndarray) -> list[bytes]:
        value = phash_of(sig)
        keys = []
        for i, (lo, hi) in enumerate(self.ranges()):
            band = (value >> (BITS - hi)) & ((1 << (hi - lo)) - 1)
            keys.append(i.to_bytes(2, "big") + band.to_bytes(8, "big"))
        return keys


def phash_of(sig: np.ndarray) -> int:
    return (int(sig[0]) << 32) | int(sig[1])


def similarity_of(distance: int) -> float:
    """The similarity reported for a pair at Hamming ``distance``: 1 - distance / 64."""
    return 1.0 - distance / BITS


def hash_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return similarity_of(hamming(phash_of(a), phash_of(b)))
