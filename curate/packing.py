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
    ins, labs, pos = inputs.reshape(-1), labels.reshape(-1), positions.reshape(-1)
    counting = np.arange(L + 1).astype(np.int32)  # positions are slices of this
    for i in range(len(src)):
        flat = flats[shard[i]]
        r, c0, s, m = dest[i] // n, dest[i] % n, src[i], length[i]
        at = r * L + c0  # where the piece starts in the flattened inputs
        if c0 < L:
            cu[k] = at
            k += 1
        m_in = min(m, L - c0)  # inputs: the row's first L tokens
        ins[at : at + m_in] = flat[s : s + m_in]  # slice copies: what LLVM vectorizes best
        p0 = 0 if mask else c0
        pos[at : at + m_in] = counting[p0 : p0 + m_in]
        first = 1 if c0 == 0 else 0  # labels: the row's last L tokens
        if m > first:
            labs[at - 1 + first : at - 1 + m] = flat[s + first : s + m]
        if mask and c0 >= 1:  # this token begins a document: nothing predicts it
            labs[at - 1] = ignore
    cu[k] = inputs.size
    return k + 1


fill = njit(cache=True, nogil=True)(_fill_loop) if COMPILED else fill_numpy


def _gather_loop(flats, shard, src, length, dest, out):
    for i in range(len(src)):
        out[dest[i] : dest[i] + length[i]] = flats[shard[i]][src[i] : src[i] + length[i]]


def gather_numpy(flats, shard, src, length, dest, out):
    """Copy each piece's tokens to ``out[dest:dest + length]`` (a worker's half of ``fill``)."""
    for s, a, k, d in zip(
        shard.tolist(), src.tolist(), length.tolist(), dest.tolist(), strict=True
    ):
        out[d : d + k] = flats[s][a : a + k]


gather = njit(cache=True, nogil=True)(_gather_loop) if COMPILED else gather_numpy


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


def _cut_loop(starts, shard, src, rows, lo, n):
    count = 0
    for i in range(len(lo)):  # pass 1: how many pieces
        j = np.searchsorted(starts, lo[i], "right") - 1
        while j < len(starts) - 1 and starts[j] < lo[i] + n:
            count += 1
            j += 1
    o_shard = np.empty(count, shard.dtype)
    o_src, o_len, o_dest = (
        np.empty(count, np.int64),
        np.empty(count, np.int64),
        np.empty(count, np.int64),
    )
    k = 0
    for i in range(len(lo)):
        hi = lo[i] + n
        j = np.searchsorted(starts, lo[i], "right") - 1
        while j < len(starts) - 1 and starts[j] < hi:
            begin, end = max(starts[j], lo[i]), min(starts[j + 1], hi)
            o_shard[k], o_src[k] = shard[j], src[j] + begin - starts[j]
            o_len[k], o_dest[k] = end - begin, rows[i] * n + begin - lo[i]
            k += 1
            j += 1
    return o_shard, o_src, o_len, o_dest


cut = njit(cache=True, nogil=True)(_cut_loop) if COMPILED else cut_numpy


def warm() -> None:
    """Compile the three loops in this process, or load them from numba's cache (about half
    a second even then): DataLoader workers forked afterwards inherit them instead of paying
    that in every worker at every epoch."""
    if not COMPILED:
        return
    flats = shard_list(1)
    flats[0] = np.arange(3, dtype=np.uint32)
    flats[0].setflags(write=False)  # mapped shards are read-only
    one = np.zeros(1, np.int64)
    starts = np.array([0, 3], np.int64)
    pieces = cut(starts, one, one, one, one, 3)
    arrays = [np.empty((1, 2), np.int32) for _ in range(3)]
    fill(flats, *pieces, 3, 2, True, -100, *arrays, np.empty(2, np.int32))
    gather(flats, *pieces, np.empty(3, np.uint32))
