"""Filling a packed batch from document pieces: inputs, next-token labels, positions and
document offsets, in one pass.

A batch is ``B`` rows of ``seq_len + 1`` stream tokens; piece ``i`` (pieces in row order)
puts ``length[i]`` tokens of shard ``shard[i]``'s flat token array, from ``src[i]``, at
``dest[i]`` of the flattened rows. Inputs are a row's first ``seq_len`` tokens, labels its
last ``seq_len``; a position counts tokens since the piece (document part) began; a label whose
token begins a document that is not the row's first piece is ``ignore`` when
``document_mask`` is set; ``cu`` lists where pieces start in the flattened inputs, then the end.

The loops are compiled with numba (``curate[loader]`` installs it): one call per batch, no
temporaries. numba is required: numpy passes gave the same batches 23x slower (BENCHMARKS.md,
"Loader without numba"), which no trainer should get by accident.
``tests/packing_reference.py`` keeps the numpy versions as the tests' reference.
"""

from __future__ import annotations

import numpy as np

try:
    from numba import njit
    from numba.core import cgutils, types
    from numba.extending import intrinsic
    from numba.typed import List as TypedList
except ImportError as e:  # pragma: no cover - the loader extra installs numba
    raise ImportError(
        "curate.loader needs numba to fill batches (the numpy path was 23x slower): "
        "pip install 'curate[loader]'"
    ) from e


@intrinsic
def _memcpy(typingctx, dst, src, nbytes):
    """LLVM's memcpy on two addresses: numba's slice assignment is a generic
    element loop, 2.8x slower on a batch's pieces (measured: 13.8 vs 4.9 us per 128 KB)."""
    sig = types.void(types.uintp, types.uintp, types.intp)

    def codegen(context, builder, signature, args):
        d, s, n = args
        ptr = cgutils.voidptr_t
        cgutils.raw_memcpy(builder, builder.inttoptr(d, ptr), builder.inttoptr(s, ptr), n, 1)
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True, inline="always")
def _copy(dst, at, src, start, count):
    """``dst[at:at + count] = src[start:start + count]`` for 4-byte items, bounds checked
    (a corrupt shard must raise, not read past its mapping)."""
    if count <= 0:
        return
    if at < 0 or start < 0 or at + count > dst.size or start + count > src.size:
        raise IndexError("a document piece lies outside its shard or its batch")
    _memcpy(dst.ctypes.data + at * 4, src.ctypes.data + start * 4, count * 4)


EMPTY = np.zeros(0, np.uint32)
EMPTY.setflags(write=False)  # mapped shards are read-only; the list holds one type


def shard_list(n: int):
    """A container for ``n`` shards' flat token arrays that the compiled loop can take."""
    out = TypedList()
    for _ in range(n):
        out.append(EMPTY)
    return out


def _put(flat, s, m, r, c0, L, mask, ignore, ins, labs, pos, counting):
    """Write ``m`` tokens of ``flat`` from ``s`` at column ``c0`` of stream row ``r``."""
    at = r * L + c0  # where the piece starts in the flattened inputs
    m_in = min(m, L - c0)  # inputs: the row's first L tokens
    _copy(ins, at, flat, s, m_in)
    _copy(pos, at, counting, 0 if mask else c0, m_in)
    first = 1 if c0 == 0 else 0  # labels: the row's last L tokens
    _copy(labs, at - 1 + first, flat, s + first, m - first)
    if mask and c0 >= 1:  # this token begins a document: nothing predicts it
        labs[at - 1] = ignore


def _close(cu, k, size):
    """End ``cu`` after its ``k`` starts; returns its length and the longest document part."""
    cu[k] = size
    longest = 0
    for i in range(k):
        longest = max(longest, cu[i + 1] - cu[i])
    return k + 1, longest


def _fill_loop(flats, shard, src, length, dest, n, L, mask, ignore, inputs, labels, positions, cu):
    k = 0
    ins, labs, pos = inputs.reshape(-1), labels.reshape(-1), positions.reshape(-1)
    counting = np.arange(L + 1).astype(np.int32)  # positions are copies of this
    for i in range(len(src)):
        r, c0 = dest[i] // n, dest[i] % n
        if c0 < L:
            cu[k] = r * L + c0
            k += 1
        _put(flats[shard[i]], src[i], length[i], r, c0, L, mask, ignore, ins, labs, pos, counting)
    return _close(cu, k, inputs.size)


def _pack_loop(starts, shard, src, lo, n, L, mask, ignore, flats, inputs, labels, positions, cu):
    """``cut`` and ``fill`` in one pass, for samples (rows) whose first stream token is
    ``lo[i]``. Returns (0, entries of ``cu``, longest part); (1, s, 0) when shard ``s`` is
    not open (an empty entry in ``flats``); (2, entries needed, 0) when ``cu`` is too short."""
    count = 0
    for i in range(len(lo)):
        j0 = np.searchsorted(starts, lo[i], "right") - 1
        j1 = np.searchsorted(starts, lo[i] + n - 1, "right") - 1
        count += j1 - j0 + 1
    if count + 1 > len(cu):
        return 2, count + 1, 0
    k = 0
    ins, labs, pos = inputs.reshape(-1), labels.reshape(-1), positions.reshape(-1)
    counting = np.arange(L + 1).astype(np.int32)
    for i in range(len(lo)):
        hi = lo[i] + n
        j = np.searchsorted(starts, lo[i], "right") - 1
        while j < len(starts) - 1 and starts[j] < hi:
            begin, end = max(starts[j], lo[i]), min(starts[j + 1], hi)
            flat = flats[shard[j]]
            if flat.size == 0:
                return 1, shard[j], 0
            c0 = begin - lo[i]
            if c0 < L:
                cu[k] = i * L + c0
                k += 1
            _put(flat, src[j] + begin - starts[j], end - begin, i, c0, L, mask, ignore, ins,
                 labs, pos, counting)  # fmt: skip
            j += 1
    k, longest = _close(cu, k, inputs.size)
    return 0, k, longest


_put = njit(cache=True, inline="always")(_put)
_close = njit(cache=True, inline="always")(_close)
fill = njit(cache=True, nogil=True)(_fill_loop)
pack = njit(cache=True, nogil=True)(_pack_loop)


def _gather_loop(flats, shard, src, length, dest, out):
    for i in range(len(src)):
        _copy(out, dest[i], flats[shard[i]], src[i], length[i])


gather = njit(cache=True, nogil=True)(_gather_loop)


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


cut = njit(cache=True, nogil=True)(_cut_loop)


def warm() -> None:
    """Compile the four loops in this process, or load them from numba's cache (about half
    a second even then): DataLoader workers forked afterwards inherit them instead of paying
    that in every worker at every epoch."""
    flats = shard_list(1)
    flats[0] = np.arange(3, dtype=np.uint32)
    flats[0].setflags(write=False)  # mapped shards are read-only
    one = np.zeros(1, np.int64)
    starts = np.array([0, 3], np.int64)
    pieces = cut(starts, one, one, one, one, 3)
    arrays = [np.empty((1, 2), np.int32) for _ in range(3)]
    fill(flats, *pieces, 3, 2, True, -100, *arrays, np.empty(2, np.int32))
    gather(flats, *pieces, np.empty(3, np.uint32))
    pack(starts, one, one, one, 3, 2, True, -100, flats, *arrays, np.empty(2, np.int32))
