"""64-bit hashes of every word window of a given length, vectorized over a whole batch.

Words are integer ids (0 = a word no benchmark has). With prefix sums of ``id[j] * Q**j`` (Q the
inverse of the odd multiplier P modulo 2**64), the window ``[i, i + L)`` hashes to
``P**(i + L - 1) * (G[i + L] - G[i])`` = sum of ``id[j] * P**(i + L - 1 - j)``: one cumulative sum
serves every length, and uint64 arithmetic wraps modulo 2**64 exactly. A final mix spreads the
bits for the bitmap. Hashes only find candidates; a match is confirmed on the word ids.
"""

from __future__ import annotations

import numpy as np

_P = 0x9E3779B97F4A7C15  # odd: invertible modulo 2**64
_Q = pow(_P, -1, 2**64)
_LENGTH_SALT = 0xD6E8FEB86659FD93  # hashes of different lengths never meet


class WindowHasher:
    """Keeps the powers of P and Q it has needed so far (they grow with the longest batch)."""

    def __init__(self) -> None:
        self._p = np.ones(1, np.uint64)
        self._q = np.ones(1, np.uint64)

    def powers(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        if len(self._p) < n:
            size = max(n, 2 * len(self._p))
            self._p, self._q = _powers_of(_P, size), _powers_of(_Q, size)
        return self._p, self._q

    def prefix(self, ids: np.ndarray) -> np.ndarray:
        """``G`` for ``ids``: ``G[0] = 0``, ``G[k] = sum(ids[j] * Q**j for j < k)``."""
        _, q = self.powers(len(ids) + 1)
        g = np.zeros(len(ids) + 1, np.uint64)
        np.cumsum(ids.astype(np.uint64) * q[: len(ids)], out=g[1:])
        return g

    def windows(self, g: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
        """Hashes of the windows of ``length`` words beginning at ``starts``."""
        p, _ = self.powers(len(g) + length)
        h = p[starts + (length - 1)] * (g[starts + length] - g[starts])
        return _mix(h + np.uint64(_LENGTH_SALT * length % 2**64))


def _powers_of(base: int, n: int) -> np.ndarray:
    """``[1, base, base**2, ...]`` modulo 2**64 (``n`` of them)."""
    steps = np.full(n, base, np.uint64)
    steps[0] = 1
    return np.cumprod(steps)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


class IdTable:
    """64-bit hash -> id, open addressing with linear probing, built and read with numpy for
    whole arrays (a sorted array and binary search cost a cache miss per step; this, about one
    read per word). At most one entry in eight slots is used; hash 0 means empty."""

    def __init__(self, keys: np.ndarray, ids: np.ndarray):
        size = 1 << max(4, int(np.ceil(np.log2(max(len(keys), 1) * 8))))
        self._mask = np.uint64(size - 1)
        self._keys = np.zeros(size, np.uint64)
        self._ids = np.zeros(size, np.uint32)
        pending = np.flatnonzero(keys != 0)
        slots = keys[pending] & self._mask
        while len(pending):
            free = self._keys[slots] == 0
            claimed, first = np.unique(slots[free], return_index=True)
            winners = pending[free][first]
            self._keys[claimed] = keys[winners]
            self._ids[claimed] = ids[winners]
            placed = np.zeros(len(pending), bool)
            placed[np.flatnonzero(free)[first]] = True
            pending, slots = pending[~placed], (slots[~placed] + np.uint64(1)) & self._mask

    @property
    def nbytes(self) -> int:
        return self._keys.nbytes + self._ids.nbytes

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """The id of each key, 0 where absent."""
        out = np.zeros(len(keys), np.uint32)
        todo = np.arange(len(keys))
        slots = keys & self._mask
        while len(todo):
            stored = self._keys[slots]
            hit = stored == keys[todo]
            out[todo[hit]] = self._ids[slots[hit]]
            more = ~hit & (stored != 0)
            todo, slots = todo[more], (slots[more] + np.uint64(1)) & self._mask
        return out
