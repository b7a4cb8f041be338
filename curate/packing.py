"""Filling a packed batch from document pieces: inputs, next-token labels, positions and
document offsets, in one pass.

A batch is ``B`` rows of ``seq_len + 1`` stream tokens; piece ``i`` (pieces in row order)
puts ``length[i]`` tokens of shard ``shard[i]``'s flat token array, from ``src[i]``, at
``dest[i]`` of the flattened rows. Inputs are a row's first ``seq_len`` tokens, labels its
last ``seq_len``; a position counts tokens since the piece (document part) began; a label whose
token begins a document that is not the row's first piece is ``ignore`` when
``document_mask`` is set; ``cu`` lists where pieces start in the flattened inputs, then the end.

The loop is compiled with numba when it is installed (``curate[loader]`` installs it): one
call per batch, no temporaries. Without numba the same result comes from numpy passes (slower;
a test checks that both agree).
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
    from numba.typed import List as TypedList
except ImportError:  # pragma: no cover - the numpy path has its own test
    njit = TypedList = None

COMPILED = njit is not None


EMPTY = np.zeros(0, np.uint32)
EMPTY.setflags(write=False)  # mapped shards are read-only; the list holds one type


def shard_list(n: int):
    """A container for ``n`` shards' flat token arrays that the compiled loop can take."""
    if COMPILED:
        out = TypedList()
        for _ in range(n):
            out.append(EMPTY)
        return out
    return [EMPTY] * n


def fill_numpy(flats, shard, src, length, dest, n, L, mask, ignore, inputs, labels, positions, cu):
    """numpy version of ``fill``; returns the number of entries written to ``cu``."""
    total = int(length.sum())
    within = np.arange(total) - np.repeat(np.cumsum(length) - length, length)
    toks = np.concatenate(
        [
            flats[s][a : a + k]
            for s, a, k in zip(shard.tolist(), src.tolist(), length.tolist(), strict=True)
        ]
    ).view(np.int32)
    at = np.repeat(dest, length) + within
    row, col = np.divmod(at, n)
    first = col < L
    inputs[row[first], col[first]] = toks[first]
    positions[row[first], col[first]] = within[first] if mask else col[first]
    has_label = col >= 1
    if mask:
        toks = np.where(within == 0, ignore, toks)
    labels[row[has_label], col[has_label] - 1] = toks[has_label]
    prow, pcol = np.divmod(dest, n)
    starts = prow[pcol < L] * L + pcol[pcol < L]
    cu[: len(starts)] = starts
    cu[len(starts)] = inputs.size
    return len(starts) + 1


def _fill_loop(flats, shard, src, length, dest, n, L, mask, ignore, inputs, labels, positions, cu):
    k = 0
    for i in range(len(src)):
        flat = flats[shard[i]]
        r, c0, s, m = dest[i] // n, dest[i] % n, src[i], length[i]
        if c0 < L:
            cu[k] = r * L + c0
            k += 1
        for t in range(min(m, L - c0)):  # inputs: the row's first L tokens
            inputs[r, c0 + t] = flat[s + t]
            positions[r, c0 + t] = t if mask else c0 + t
        for t in range(1 if c0 == 0 else 0, m):  # labels: its last L tokens
            labels[r, c0 + t - 1] = flat[s + t]
        if mask and c0 >= 1:  # this token begins a document: nothing predicts it
            labels[r, c0 - 1] = ignore
    cu[k] = inputs.size
    return k + 1


fill = njit(cache=True, nogil=True)(_fill_loop) if COMPILED else fill_numpy
