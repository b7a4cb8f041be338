"""``CorpusDataset``: packed or padded token samples of a curate corpus, selected by split,
period or time range, shuffled, partitioned over ranks and DataLoader workers, with exact and
elastic resumption.

The sample order lives in ``curate.loader.order`` (no torch there); this module turns steps of
that order into tensors. Workers never coordinate with each other: each derives its steps from
(manifest, settings, seed, epoch, start, rank, worker) alone; a ``CorpusLoader`` hands them the
epoch and start through a small shared-memory tensor, the one way to reach persistent workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np
from torch.utils.data import IterableDataset, get_worker_info

from curate.loader.arguments import check_arguments
from curate.loader.batches import (
    IGNORE_INDEX,
    PLANS_PER_MESSAGE,
    Plan,
    Wire,
    assembled,
    finish,
    outputs,
    pinned,
    unpacked,
)
from curate.loader.cache import DEFAULT_LIMIT
from curate.loader.corpus import Corpus, Selection, check_selection, names
from curate.loader.epochs import epoch_order
from curate.loader.order import (
    EpochOrder,
    MixedOrder,
    OrderSettings,
    Pieces,
    Window,
    dropped_for_ranks,
    rank_batches,
)
from curate.loader.packing import EMPTY, pack, shard_list
from curate.loader.state import LoaderSettings, Position
from curate.loader.torch_required import torch


def _dist() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class CorpusDataset(IterableDataset):
    """Samples of a curate corpus: dicts of int32 tensors.

    Packed (default): ``input_ids`` and ``labels`` (the next tokens) of ``seq_len``, and
    ``position_ids`` restarting at 0 where a document starts, which is what document-masked
    attention needs (``collate`` adds ``cu_seqlens``). A label that would cross into the next
    document is ``IGNORE_INDEX`` unless ``document_mask=False`` (classic packing: one causal
    sequence, positions 0..seq_len-1). Unpacked (``pack=False``): one document per sample,
    cut at ``seq_len + 1`` tokens, padded with EOS, with ``attention_mask``; padding labels are
    ``IGNORE_INDEX``.

    ``split=None`` reads every split; ``periods``, ``time_range`` and ``sources`` narrow it.
    ``view`` reads a split design from the manifest: ``"control"`` (with ``split=None``: the
    training split's size-matched control) or a window, ``"w003:train"`` / ``"w003:eval"``.
    ``mix={"2019-Q1": 0.7, "2023-Q1": 0.3}`` draws those periods in exactly those proportions
    in every block of ``mix_block`` samples (a period that runs out starts a new permutation);
    an epoch is ``samples_per_epoch`` samples (default: as many as the periods hold). With
    ``mix_by="source"`` the keys are sources (``{"web": 0.8, "books": 0.2}``); documents of
    one source may share shards with others, so opening the dataset reads every selected
    shard's source column once, as ``sources=`` does.
    ``root`` may be a URI (``s3://``, ``gs://``, ...): shards are then copied on first use into
    ``cache_dir`` (default ``$CURATE_CACHE`` or ``~/.cache/curate``), which is kept under
    ``cache_limit`` bytes by deleting the least recently used copies, never the source.
    ``batch_size`` must match the DataLoader's when it has workers (``CorpusLoader`` sets it).

    Multimodal corpora (built from image-text pairs or interleaved documents) load unpacked,
    one document per sample, and add ``images`` (N, 3, ``image_size``, ``image_size``) uint8
    for the N images of the batch whose image token falls inside the sample, with
    ``image_positions`` (N, 2) int32: (row in the batch, index of its token in ``input_ids``).
    ``image_decode="cpu"`` decodes in the DataLoader workers with Pillow; ``"gpu"`` leaves the
    encoded bytes (``image_bytes``, ``image_offsets``) for ``to_device`` to decode on the GPU
    with nvJPEG (or ``decode_images`` where ``to_device`` is not used).

    ``increments=k`` reads the corpus as it was after its first ``k`` builds and appends (1:
    the first build alone): a run saved before an append resumes with it; without it the new
    shards are part of the selection, which is another order (docs/append.md).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str | None = "train",
        periods: Iterable[str] | None = None,
        time_range: tuple[str | datetime | None, str | datetime | None] | None = None,
        sources: Iterable[str] | None = None,
        mix: dict[str, float] | None = None,
        mix_by: str = "period",
        mix_block: int = 1000,
        samples_per_epoch: int | None = None,
        seq_len: int = 2048,
        pack: bool = True,
        shuffle: bool = True,
        seed: int = 0,
        shuffle_window: int = 65_536,
        document_mask: bool = True,
        batch_size: int | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        verify: str = "checksum",
        cache_dir: str | os.PathLike | None = None,
        cache_limit: int = DEFAULT_LIMIT,
        view: str | None = None,
        image_size: int = 224,
        image_decode: str = "cpu",
        increments: int | None = None,
    ):
        seq_len, shuffle_window, batch_size, samples_per_epoch = check_arguments(
            seq_len=seq_len,
            shuffle_window=shuffle_window,
            image_decode=image_decode,
            mix=mix,
            mix_by=mix_by,
            named=periods if mix_by == "period" else sources,
            batch_size=batch_size,
            samples_per_epoch=samples_per_epoch,
            mix_block=mix_block,
        )
        self.image_size, self.image_decode = image_size, image_decode
        if mix is not None:
            if mix_by == "period":
                periods = list(mix)
            else:
                sources = list(mix)
        periods, sources = names(periods, "periods"), names(sources, "sources")
        self.mix, self.mix_by = (dict(mix) if mix is not None else None), mix_by
        self.mix_block, self.samples_per_epoch = mix_block, samples_per_epoch
        selection = Selection(
            split,
            tuple(periods) if periods is not None else None,
            time_range,
            tuple(sources) if sources is not None else None,
            view,
            increments,
        )
        self.corpus = Corpus(root, selection, verify, cache_dir, cache_limit)
        check_selection(self.corpus.manifest, selection)
        self.multimodal = self.corpus.image_id is not None
        if self.multimodal and pack:
            raise ValueError("a multimodal corpus loads one document per sample: pass pack=False")
        self.settings = OrderSettings(seq_len, pack, shuffle, seed, shuffle_window)
        self.document_mask = document_mask
        self.batch_size = batch_size
        self._ranks_asked = (rank, world_size)  # None: the process group's, when iterating
        self.rank, self.world_size = self._ranks()
        self.position = Position()
        self.loader_counts = False  # a CorpusLoader counts what the loop received
        self.shared_position: torch.Tensor | None = None  # a CorpusLoader's, for its workers
        self._order: EpochOrder | None = None

    @property
    def epoch(self) -> int:
        return self.position.epoch

    @property
    def consumed(self) -> int:
        return self.position.consumed

    def attach(self, batch_size: int) -> None:
        """Called by ``CorpusLoader``: the DataLoader's batch size, consumption counted by
        the loader, and a shared-memory position that (persistent) workers read at each
        iteration's start."""
        self.batch_size = batch_size
        self.loader_counts = True
        self.shared_position = torch.zeros(4, dtype=torch.int64).share_memory_()

    def _ranks(self) -> tuple[int, int]:
        """This process's rank and the world size: as given, else the process group's, read
        when iteration starts (a dataset made before ``init_process_group`` is not rank 0
        of 1 for ever)."""
        rank, world = self._ranks_asked
        dist_rank, dist_world = _dist()
        rank = dist_rank if rank is None else rank
        world = dist_world if world is None else world
        if not 0 <= rank < world:
            raise ValueError(f"rank {rank} is not within world_size {world}")
        return rank, world

    def begin(self) -> None:
        """Start an iteration where the consumed samples end (``Position.begin``), with the
        ranks of this moment; a CorpusLoader's workers get the same from shared memory."""
        self.rank, self.world_size = self._ranks()
        self.position.begin()
        if self.shared_position is not None:
            p = self.position
            self.shared_position.copy_(torch.tensor([p.epoch, p.start, self.rank, self.world_size]))

    def advance(self, samples: int) -> None:
        """The training loop received ``samples`` more samples of this rank."""
        self.position.advance(samples, self.world_size)

    def end_epoch(self) -> None:
        self.position.end_epoch()

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first sample (as samplers' ``set_epoch``)."""
        self.position.set_epoch(epoch)

    # -- the order ---------------------------------------------------------------------------
    def order(self, epoch: int | None = None) -> EpochOrder | MixedOrder:
        """The sample order of ``epoch`` (default: the current one), built once per epoch."""
        epoch = self.position.epoch if epoch is None else epoch
        if self._order is None or self._order.epoch != epoch:
            mix = None if self.mix is None else (self.mix, self.mix_by, self.mix_block)
            self._order = epoch_order(
                self.corpus, self.settings, epoch, mix, self.samples_per_epoch
            )
        return self._order

    def epoch_info(self) -> dict[str, int]:
        """Sizes of the current epoch and what partitioning and packing leave out."""
        o = self.order()
        start = self.position.start
        dropped = dropped_for_ranks(o.n_samples, start, self.world_size)
        return {
            "epoch": self.epoch,
            "samples": o.n_samples,
            "samples_per_rank": (o.n_samples - start) // self.world_size,
            "dropped_samples_for_equal_ranks": dropped,
            "dropped_tail_tokens": o.dropped_tokens,
        }

    def __len__(self) -> int:
        """Samples this rank yields in the current epoch from the current position."""
        return self.epoch_info()["samples_per_rank"]

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        """Whole batches when the dataset knows its batch size (``CorpusLoader``: the batch
        is built with a few vectorized gathers), single samples otherwise."""
        return self.batches()

    def batches(self, pin: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """``pin``: packed batches are written straight into pinned memory."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if workers > 1 and self.batch_size is None:
            raise ValueError(
                "CorpusDataset needs batch_size (the DataLoader's) when the DataLoader has "
                "workers; pass batch_size=... or use curate.loader.CorpusLoader"
            )
        counting = info is None and not self.loader_counts
        if counting:
            self.begin()
        elif info is not None and self.shared_position is not None:  # a CorpusLoader's worker
            epoch, start, self.rank, self.world_size = self.shared_position.tolist()
            self.position.epoch, self.position.start = epoch, start
        order = self.order()
        if self.position.start == 0 and order.n_samples < self.world_size:
            # an empty epoch is a setting's mistake: a loop that runs zero steps says nothing
            raise ValueError(
                f"the selection gives each of the {self.world_size} ranks no sample: it holds "
                f"{order.n_samples:,} samples of seq_len {self.settings.seq_len} "
                f"({order.dropped_tokens:,} tokens left over); use a shorter seq_len, fewer "
                "ranks or a wider selection"
            )
        # a CorpusLoader's worker sends its share in messages of several batches (plans: a
        # few KB each; multimodal batches, images included, one per message)
        sending = info is not None and self.loader_counts and self.batch_size is not None
        per_message = 1 if self.multimodal or not sending else PLANS_PER_MESSAGE
        chunks = rank_batches(
            order.n_samples, self.position.start, self.rank, self.world_size, worker, workers,
            self.batch_size or 1, per_message,
        )  # fmt: skip
        for chunk in chunks:
            if sending:
                yield [self._sendable(order, steps) for steps in chunk]
                continue
            for steps in chunk:
                batch = self._batch(order, order.samples(steps), pin)
                if self.batch_size is None:
                    batch = {k: v if k.startswith("image") else v[0] for k, v in batch.items()}
                    batch.pop("cu_seqlens", None), batch.pop("max_seqlen", None)
                if counting:
                    self.advance(len(steps))
                yield batch
        if counting:
            self.end_epoch()

    def _batch(self, order: EpochOrder, samples: np.ndarray, pin: bool = False):
        """One batch in a few compiled passes: the pieces (parts of documents) tile a flat
        buffer of ``samples x (seq_len + 1)`` tokens; tokens are copied shard by shard from
        the memory-mapped files; positions, labels and ``cu_seqlens`` come from the pieces."""
        if self.settings.pack and isinstance(order, EpochOrder):
            stream = order.stream(samples)
            if stream is not None:  # the usual batch: cut and filled in one compiled pass
                return self._pack(*stream, len(samples), pin)
        p = order.pieces(samples)
        return self._assemble(self._flats(p.shard.tolist()), p, len(samples), pin)

    def _sendable(self, order: EpochOrder, steps: np.ndarray) -> Plan | Wire:
        """What a worker sends for a batch: a text batch's plan (its pieces, once this
        worker has opened and verified, or fetched, their shards), a multimodal batch whole."""
        samples = order.samples(steps)
        if self.multimodal:
            return Wire.pack(self._batch(order, samples))
        p = order.pieces(samples)
        self._flats(p.shard.tolist())
        return Plan(p, len(samples))

    def _assemble(self, flats, p: Pieces, B: int, pin: bool) -> dict[str, torch.Tensor]:
        if not self.settings.pack:
            return unpacked(self.corpus, flats, p, B, self.settings.seq_len, self.image_decode,
                            self.image_size)  # fmt: skip
        L = self.settings.seq_len
        return finish(flats, p.shard, p.src, p.length, p.dest, B, L, self.document_mask, pin)

    def receive(self, plan: Plan) -> dict[str, torch.Tensor]:
        """A worker's plan made into the batch from this process's own mapping of the shards
        (the worker opened and verified them)."""
        p = plan.pieces()
        batch = self._assemble(self._flats(p.shard.tolist(), True), p, plan.B, plan.pin)
        return pinned(batch) if plan.pin else batch

    def _pack(self, window: Window, lo: np.ndarray, B: int, pin: bool) -> dict[str, torch.Tensor]:
        """A packed batch of samples starting at stream tokens ``lo`` of one window; shards
        are opened when the compiled pass first meets them (it stops and is run again)."""
        L = self.settings.seq_len
        arrays, tensors = outputs(B, L, pin)
        cu = np.empty(self.__dict__.get("_cu_len", 4 * B + 64), np.int32)
        flats = self._flats(())
        while True:
            status, k, longest = pack(
                window.starts, window.shard, window.src, lo, L + 1, L, self.document_mask,
                IGNORE_INDEX, flats, *arrays, cu,
            )  # fmt: skip
            if status == 0:
                return assembled(arrays, tensors, cu[:k], longest)
            if status == 1:  # without dropping what this batch opened: a small remote cache
                self._open_flats((k,), False)  # may not hold all of a batch's shards
            else:
                self._cu_len = k
                cu = np.empty(k, np.int32)

    def _flats(self, shards: Iterable[int], verified: bool = False):
        """Per selected shard, its flat token array once opened (per process: not pickled),
        for the compiled loops; opens those of ``shards`` not open yet."""
        if self.__dict__.get("_flat_list") is None:
            self._flat_list = (shard_list(len(self.corpus.entries)), set())
            self._flat_gen = self.corpus.generation
        flats, opened = self._flat_list
        if self._flat_gen != self.corpus.generation:  # the corpus unmapped shards: drop them
            for s in [s for s in opened if not self.corpus.is_open(s)]:
                flats[s] = EMPTY
                opened.discard(s)
            self._flat_gen = self.corpus.generation
        self._open_flats(shards, verified)
        return flats

    def _open_flats(self, shards: Iterable[int], verified: bool) -> None:
        flats, opened = self._flat_list
        for s in set(shards) - opened:
            flats[s] = self.corpus.shard(s, verified).flat
            opened.add(s)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_flat_list"] = None
        state["_order"] = None  # rebuilt where it is used (a mixed order holds a closure)
        return state

    # -- state -------------------------------------------------------------------------------
    def loader_settings(self) -> LoaderSettings:
        mix = (self.mix, self.mix_block, self.samples_per_epoch)
        return LoaderSettings(
            shards=tuple((e["path"], e["sha256"], e["documents"]) for e in self.corpus.entries),
            selection=repr(self.corpus.selection),
            mix=mix + ((self.mix_by,) if self.mix_by != "period" else ()),  # older states
            order=self.settings,
            document_mask=self.document_mask,
            images=(self.image_size, self.image_decode) if self.multimodal else None,
        )

    def fingerprint(self) -> str:
        return self.loader_settings().fingerprint

    def state_dict(self) -> dict[str, Any]:
        """Position after the samples consumed so far; the same on every rank."""
        return self.position.state_dict(self.fingerprint())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``, with this dataset's number of ranks and workers."""
        self.position.load_state_dict(
            state, self.fingerprint(), lambda epoch: self.order(epoch).n_samples
        )
