"""numpy versions of curate/packing.py's compiled loops: the reference the tests compare the
compiled loops with (the package itself requires numba)."""

from __future__ import annotations

import numpy as np


def fill_numpy(flats, shard, src, length, dest, n, L, mask, ignore, inputs, labels, positions, cu):
    """numpy version of ``fill``."""
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
    k = len(starts)
    cu[:k] = starts
    cu[k] = inputs.size
    return k + 1, int(np.diff(cu[: k + 1]).max())


def pack_numpy(starts, shard, src, lo, n, L, mask, ignore, flats, inputs, labels, positions, cu):
    """numpy version of ``pack``."""
    p = cut_numpy(starts, shard, src, np.arange(len(lo)), lo, n)
    closed = [s for s in np.unique(p[0]).tolist() if flats[s].size == 0]
    if closed:
        return 1, closed[0], 0
    if len(p[0]) + 1 > len(cu):
        return 2, len(p[0]) + 1, 0
    return (0, *fill_numpy(flats, *p, n, L, mask, ignore, inputs, labels, positions, cu))


def gather_numpy(flats, shard, src, length, dest, out):
    """Copy each piece's tokens to ``out[dest:dest + length]`` (a worker's half of ``fill``)."""
    for s, a, k, d in zip(
        shard.tolist(), src.tolist(), length.tolist(), dest.tolist(), strict=True
    ):
        out[d : d + k] = flats[s][a : a + k]


def cut_numpy(starts, shard, src, rows, lo, n):
    """Pieces (shard, src, length, dest) of the samples whose first stream token is ``lo``
    (``n`` tokens each, written at row ``rows[i]``), from documents in stream order: document
    ``j`` starts at stream token ``starts[j]`` (``starts`` ends with the end), in shard
    ``shard[j]`` at ``src[j]``. Pieces come in ``dest`` order for ascending ``rows``."""
    hi = lo + n
    j0 = np.searchsorted(starts, lo, "right") - 1
    j1 = np.searchsorted(starts, hi - 1, "right") - 1
    counts = j1 - j0 + 1
    owner = np.repeat(np.arange(len(counts)), counts)
    j = j0[owner] + np.arange(len(owner)) - (np.cumsum(counts) - counts)[owner]
    begin = np.maximum(starts[j], lo[owner])
    end = np.minimum(starts[j + 1], hi[owner])
    dest = rows[owner] * n + (begin - lo[owner])
    return shard[j], src[j] + (begin - starts[j]), end - begin, dest
