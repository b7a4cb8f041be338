"""A batch's pieces of memory: packed outputs filled in place (pinned when the loader pins),
``collate`` for single samples, and what a DataLoader worker sends to the training process (a
text batch's plan, or a multimodal batch as one buffer)."""

from __future__ import annotations

import numpy as np

from curate.loader.order import Pieces
from curate.loader.packing import fill, gather
from curate.loader.torch_required import torch

IGNORE_INDEX = -100  # labels PyTorch's cross-entropy skips by default
PLANS_PER_MESSAGE = 16  # a worker's batches per message: the hand-off costs more than a plan


def collate(samples: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack samples; for packed samples add ``cu_seqlens`` (int32 offsets of the documents
    in the flattened batch, as flash-attention's varlen kernels take) and ``max_seqlen``."""
    batch = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
    if "attention_mask" not in batch:
        batch["cu_seqlens"], batch["max_seqlen"] = cu_seqlens(batch["position_ids"])
    return batch


def cu_seqlens(position_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    flat = position_ids.reshape(-1)
    starts = torch.nonzero(flat == 0).flatten().to(torch.int32)
    bounds = torch.cat([starts, torch.tensor([flat.numel()], dtype=torch.int32)])
    return bounds, (bounds[1:] - bounds[:-1]).max().reshape(1)


def outputs(B: int, L: int, pin: bool):
    """Arrays for a packed batch's inputs, labels and positions, and, when ``pin``, the
    pinned tensors they view (``to_device`` then copies them as they are)."""
    if pin:
        tensors = [torch.empty((B, L), dtype=torch.int32, pin_memory=True) for _ in _PACKED]
        return [t.numpy() for t in tensors], tensors
    # numpy's allocator reuses freed batches' memory; torch's maps fresh pages
    return [np.empty((B, L), np.int32) for _ in _PACKED], None


def assembled(arrays, tensors, cu: np.ndarray, longest: int) -> dict[str, torch.Tensor]:
    out = dict(zip(_PACKED, tensors or [torch.from_numpy(a) for a in arrays], strict=True))
    out["cu_seqlens"] = torch.from_numpy(cu)
    out["max_seqlen"] = torch.from_numpy(np.array([longest], np.int32))
    return out


def finish(flats, shard, src, length, dest, B: int, L: int, mask: bool, pin: bool = False):
    """Inputs, labels, positions and document offsets of a packed batch from its pieces."""
    arrays, tensors = outputs(B, L, pin)
    cu = np.empty(len(dest) + 1, np.int32)
    k, longest = fill(flats, shard, src, length, dest, L + 1, L, mask, IGNORE_INDEX, *arrays, cu)
    return assembled(arrays, tensors, cu[:k], longest)


_PACKED = ("input_ids", "labels", "position_ids")


class Plan:
    """A text batch as a worker sends it: its pieces, a few KB. The shards are memory-mapped,
    so the training process already shares their pages: it copies each token once, from its
    own mapping into the batch (pinned, when the DataLoader pins), instead of receiving the
    worker's copy through a pipe. Measured on 2 cores with 2 workers, 16 x 2,048 tokens:
    62 M tokens/s receiving each batch's token stream, 93 M receiving plans one by one, 358 M
    receiving them 16 to a message (``PLANS_PER_MESSAGE``)."""

    def __init__(self, p: Pieces, B: int):
        # bytes pickle in a fraction of an array's time; a bytearray reads back writable
        self.data = bytearray(np.stack([p.shard, p.src, p.length, p.dest]).astype(np.int64))
        self.B, self.pin = B, False

    def pieces(self) -> Pieces:
        return Pieces(*np.frombuffer(self.data, np.int64).reshape(4, -1))

    def pin_memory(self) -> Plan:  # the DataLoader's pinning thread: pin what is made of it
        self.pin = True
        return self


class Wire:
    """A batch as one byte buffer and its layout: a DataLoader worker hands each tensor to
    the main process through its own shared-memory segment, which costs far more than the
    copy into one buffer (measured: about 3 ms per 16 x 2048 batch with five tensors)."""

    ALIGN = 8  # every tensor starts at a multiple of the widest item size

    def __init__(self, flat, layout: list[tuple[str, torch.dtype, tuple[int, ...], int, int]]):
        self.flat, self.layout = flat, layout

    @staticmethod
    def pack(batch: dict[str, torch.Tensor]) -> Wire:
        layout, at = [], 0
        for k, v in batch.items():
            nbytes = v.numel() * v.element_size()
            layout.append((k, v.dtype, tuple(v.shape), at, nbytes))
            at += -(-nbytes // Wire.ALIGN) * Wire.ALIGN
        flat = np.empty(at, np.uint8)
        for (_, _, _, start, nbytes), v in zip(layout, batch.values(), strict=True):
            flat[start : start + nbytes] = v.numpy().reshape(-1).view(np.uint8)
        return Wire(flat, layout)

    def unpack(self) -> dict[str, torch.Tensor]:
        flat = torch.from_numpy(self.flat) if isinstance(self.flat, np.ndarray) else self.flat
        return {
            k: flat[start : start + nbytes].view(dtype).view(shape)
            for k, dtype, shape, start, nbytes in self.layout
        }

    def pin_memory(self) -> Wire:  # called by the DataLoader's pinning thread
        return Wire(torch.from_numpy(self.flat).pin_memory(), self.layout)


def pinned(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Packed batches are made pinned but for their small offsets: pin what is not."""
    return {k: v if v.is_pinned() else v.pin_memory() for k, v in batch.items()}


def unpacked(corpus, flats, p: Pieces, B: int, seq_len: int, image_decode: str, image_size: int):
    """One document per row, cut at ``seq_len + 1`` tokens and padded with EOS; a multimodal
    corpus's rows bring the images whose token falls inside them."""
    n = seq_len + 1
    toks = np.full(B * n, corpus.eos_id, np.uint32)
    gather(flats, p.shard, p.src, p.length, p.dest, toks)
    batch = padded(toks.view(np.int32).reshape(B, n), p.length, seq_len)
    if corpus.image_id is not None:
        images, where = [], []
        for s, a, d in zip(p.shard.tolist(), p.src.tolist(), p.dest.tolist(), strict=True):
            shard = corpus.shard(s)
            row = int(np.searchsorted(shard.doc_start, a))
            for data, pos in shard.images(row):
                if pos < seq_len:  # its token is inside the sample
                    images.append(data)
                    where.append((d // n, pos))
        batch.update(_images(images, where, image_decode, image_size))
    return batch


def _images(images: list, where: list, image_decode: str, size: int) -> dict[str, torch.Tensor]:
    from curate.loader.image_decode import decode_batch, pack_bytes

    out = {"image_positions": torch.tensor(where, dtype=torch.int32).reshape(-1, 2)}
    if image_decode == "cpu":
        out["images"] = torch.from_numpy(decode_batch(images, size))
    else:
        flat, offsets = pack_bytes(images)
        out["image_bytes"], out["image_offsets"] = map(torch.from_numpy, (flat, offsets))
    return out


def padded(toks: np.ndarray, lengths: np.ndarray, L: int) -> dict[str, torch.Tensor]:
    cols = np.arange(L)
    labels = toks[:, 1:].copy()
    labels[cols[None, :] >= lengths[:, None] - 1] = IGNORE_INDEX
    return {
        "input_ids": torch.from_numpy(np.ascontiguousarray(toks[:, :L])),
        "labels": torch.from_numpy(labels),
        "position_ids": torch.from_numpy(
            np.broadcast_to(cols.astype(np.int32), toks[:, :L].shape).copy()
        ),
        "attention_mask": torch.from_numpy((cols[None, :] < lengths[:, None]).astype(np.int32)),
    }
