"""PyTorch streaming loader for curate corpora: packed or padded token samples, selected by
split, period or time range, shuffled, partitioned over ranks and DataLoader workers, with
exact and elastic resumption, and a prefetching host-to-device copier.

The sample order lives in ``curate.order`` (no torch there); this module turns steps of that
order into tensors. Processes never coordinate through shared memory or lock files: every
worker derives its steps from (manifest, settings, seed, epoch, rank, worker) alone.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import numpy as np

try:
    import torch
    from torch.utils.data import DataLoader, IterableDataset, get_worker_info
except ImportError as e:  # pragma: no cover - the loader extra installs it
    raise ImportError("curate.loader needs torch and numba: pip install 'curate[loader]'") from e

from curate.corpus import Corpus, Selection
from curate.order import (
    EpochOrder,
    MixedOrder,
    OrderSettings,
    Pieces,
    Window,
    dropped_for_ranks,
    rank_batches,
)
from curate.packing import EMPTY, fill, gather, pack, shard_list, warm
from curate.shard_cache import DEFAULT_LIMIT

IGNORE_INDEX = -100  # labels PyTorch's cross-entropy skips by default
PLANS_PER_MESSAGE = 16  # a worker's batches per message: the hand-off costs more than a plan
STATE_VERSION = 1


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
    """

    def __init__(
        self,
        root: str,
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
        cache_dir: str | None = None,
        cache_limit: int = DEFAULT_LIMIT,
        view: str | None = None,
        image_size: int = 224,
        image_decode: str = "cpu",
    ):
        if seq_len < 1 or shuffle_window < 1:
            raise ValueError("seq_len and shuffle_window must be positive")
        if image_decode not in ("cpu", "gpu"):
            raise ValueError("image_decode must be 'cpu' or 'gpu'")
        self.image_size, self.image_decode = image_size, image_decode
        if mix_by not in ("period", "source"):
            raise ValueError("mix_by must be 'period' or 'source'")
        if mix is not None:
            if (periods if mix_by == "period" else sources) is not None:
                raise ValueError(f"give {mix_by}s or mix (whose keys are the {mix_by}s), not both")
            if mix_by == "period":
                periods = list(mix)
            else:
                sources = list(mix)
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        periods, sources = _names(periods, "periods"), _names(sources, "sources")
        self.mix, self.mix_by = (dict(mix) if mix is not None else None), mix_by
        self.mix_block, self.samples_per_epoch = mix_block, samples_per_epoch
        selection = Selection(
            split,
            tuple(periods) if periods is not None else None,
            time_range,
            tuple(sources) if sources is not None else None,
            view,
        )
        self.corpus = Corpus(root, selection, verify, cache_dir, cache_limit)
        _check_selection(self.corpus.manifest, selection)
        self.multimodal = self.corpus.image_id is not None
        if self.multimodal and pack:
            raise ValueError("a multimodal corpus loads one document per sample: pass pack=False")
        self.settings = OrderSettings(seq_len, pack, shuffle, seed, shuffle_window)
        self.document_mask = document_mask
        self.batch_size = batch_size
        self._ranks_asked = (rank, world_size)  # None: the process group's, when iterating
        self.rank, self.world_size = self._ranks()
        self.epoch = 0
        self.consumed = 0  # global steps of this epoch consumed (by all ranks together)
        self._local = 0  # steps this rank consumed since the last (re)start
        self._start = 0
        self._external = False  # a CorpusLoader counts consumption (workers run elsewhere)
        self._sync: torch.Tensor | None = None  # a CorpusLoader's position for its workers
        self._order: EpochOrder | None = None

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

    def _begin(self) -> None:
        """Start an iteration where the consumed samples end: a loop that broke off and
        iterates again continues, so the state always describes what it received."""
        self.rank, self.world_size = self._ranks()
        self._start, self._local = self.consumed, 0

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` from its first sample (as samplers' ``set_epoch``)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative integer, got {epoch!r}")
        self.epoch = epoch
        self.consumed = self._start = self._local = 0

    # -- the order ---------------------------------------------------------------------------
    def order(self, epoch: int | None = None) -> EpochOrder | MixedOrder:
        epoch = self.epoch if epoch is None else epoch
        if self._order is None or self._order.epoch != epoch:
            entries = self.corpus.entries
            if self.mix is None:
                self._order = self._group_order(np.arange(len(entries)), epoch)
            else:
                groups = self._mix_groups()
                cache: dict[tuple[int, int], EpochOrder] = {}

                def group_order(g: int, p: int) -> EpochOrder:
                    if (g, p) not in cache:
                        if len(cache) > 16:
                            cache.clear()
                        ids, rows = groups[g]
                        cache[g, p] = self._group_order(ids, epoch * 1_000_003 + p, rows)
                    return cache[g, p]

                total = self.samples_per_epoch or sum(
                    group_order(g, 0).n_samples for g in range(len(groups))
                )
                self._order = MixedOrder(
                    group_order, list(self.mix.values()), self.mix_block, total,
                    self.settings.seed, epoch,
                )  # fmt: skip
        return self._order

    def _mix_groups(self) -> list[tuple[np.ndarray, dict[int, np.ndarray] | None]]:
        """Per mixed group: its shards, and for sources the stored rows of its documents in
        each of them (None: the shards' selected documents, as for periods)."""
        entries = self.corpus.entries
        if self.mix_by == "period":
            by_period = [[i for i, e in enumerate(entries) if e["period"] == n] for n in self.mix]
            groups = [(np.array(ids, np.int64), None) for ids in by_period]
        else:
            rows: list[dict[int, np.ndarray]] = [{} for _ in self.mix]
            for i in range(len(entries)):
                shard, kept = self.corpus.shard(i), self.corpus.doc_index(i)
                for g, name in enumerate(self.mix):
                    mine = np.flatnonzero(shard.has_source((name,)))
                    mine = mine if kept is None else np.intersect1d(mine, kept)
                    if len(mine):
                        rows[g][i] = mine
            groups = [(np.array(sorted(r), np.int64), r) for r in rows]
        missing = [name for name, (ids, _) in zip(self.mix, groups, strict=True) if not len(ids)]
        if missing:
            raise ValueError(f"mix names {self.mix_by}s with nothing selected: {missing}")
        return groups

    def _group_order(
        self, ids: np.ndarray, key: int, rows: dict[int, np.ndarray] | None = None
    ) -> EpochOrder:
        """The order over shards ``ids``; ``rows`` narrows each to those stored rows."""
        c = self.corpus
        if rows is None:
            tokens = [c.entries[i]["tokens"] for i in ids]
            documents = [c.entries[i]["documents"] for i in ids]
            lengths, index = c.doc_lengths, c.doc_index
        else:
            tokens = [int(c.shard(i).lengths[rows[i]].sum()) for i in ids]
            documents = [len(rows[i]) for i in ids]
            lengths, index = (lambda i: c.shard(i).lengths[rows[i]]), rows.__getitem__
        return EpochOrder(
            np.array(tokens, np.int64), np.array(documents, np.int64), lengths, index,
            c.locate, self.settings, key, ids,
        )  # fmt: skip

    def epoch_info(self) -> dict[str, int]:
        """Sizes of the current epoch and what partitioning and packing leave out."""
        o = self.order()
        dropped = dropped_for_ranks(o.n_samples, self._start, self.world_size)
        return {
            "epoch": self.epoch,
            "samples": o.n_samples,
            "samples_per_rank": (o.n_samples - self._start) // self.world_size,
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
        return self._batches()

    def _batches(self, pin: bool = False) -> Iterator[dict[str, torch.Tensor]]:
        """``pin``: packed batches are written straight into pinned memory."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if workers > 1 and self.batch_size is None:
            raise ValueError(
                "CorpusDataset needs batch_size (the DataLoader's) when the DataLoader has "
                "workers; pass batch_size=... or use curate.loader.CorpusLoader"
            )
        counting = info is None and not self._external
        if counting:
            self._begin()
        elif info is not None and self._sync is not None:  # a CorpusLoader's (persistent) worker
            self.epoch, self._start, self.rank, self.world_size = self._sync.tolist()
        order = self.order()
        # a CorpusLoader's worker sends its share in messages of several batches (plans: a
        # few KB each; multimodal batches, images included, one per message)
        sending = info is not None and self._external and self.batch_size is not None
        per_message = 1 if self.multimodal or not sending else PLANS_PER_MESSAGE
        chunks = rank_batches(
            order.n_samples, self._start, self.rank, self.world_size, worker, workers,
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
                    self._advance(len(steps))
                yield batch
        if counting:
            self._end_epoch()

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

    def _sendable(self, order: EpochOrder, steps: np.ndarray) -> _Plan | _Wire:
        """What a worker sends for a batch: a text batch's plan (its pieces, once this
        worker has opened and verified, or fetched, their shards), a multimodal batch whole."""
        samples = order.samples(steps)
        if self.multimodal:
            return _Wire.pack(self._batch(order, samples))
        p = order.pieces(samples)
        self._flats(p.shard.tolist())
        return _Plan(p, len(samples))

    def _assemble(self, flats, p: Pieces, B: int, pin: bool) -> dict[str, torch.Tensor]:
        if not self.settings.pack:
            return self._unpacked(flats, p, B)
        L = self.settings.seq_len
        return _finish(flats, p.shard, p.src, p.length, p.dest, B, L, self.document_mask, pin)

    def _received(self, plan: _Plan) -> dict[str, torch.Tensor]:
        """A worker's plan made into the batch from this process's own mapping of the shards
        (the worker opened and verified them)."""
        p = plan.pieces()
        batch = self._assemble(self._flats(p.shard.tolist(), True), p, plan.B, plan.pin)
        return _pinned(batch) if plan.pin else batch

    def _pack(self, window: Window, lo: np.ndarray, B: int, pin: bool) -> dict[str, torch.Tensor]:
        """A packed batch of samples starting at stream tokens ``lo`` of one window; shards
        are opened when the compiled pass first meets them (it stops and is run again)."""
        L = self.settings.seq_len
        arrays, tensors = _outputs(B, L, pin)
        cu = np.empty(self.__dict__.get("_cu_len", 4 * B + 64), np.int32)
        flats = self._flats(())
        while True:
            status, k, longest = pack(
                window.starts, window.shard, window.src, lo, L + 1, L, self.document_mask,
                IGNORE_INDEX, flats, *arrays, cu,
            )  # fmt: skip
            if status == 0:
                return _assembled(arrays, tensors, cu[:k], longest)
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

    def _unpacked(self, flats, p, B: int) -> dict[str, torch.Tensor]:
        """One document per row, cut at ``seq_len + 1`` tokens and padded with EOS."""
        n = self.settings.seq_len + 1
        toks = np.full(B * n, self.corpus.eos_id, np.uint32)
        gather(flats, p.shard, p.src, p.length, p.dest, toks)
        batch = self._padded(toks.view(np.int32).reshape(B, n), p.length)
        if self.multimodal:
            images, where = [], []
            for s, a, d in zip(p.shard.tolist(), p.src.tolist(), p.dest.tolist(), strict=True):
                shard = self.corpus.shard(s)
                row = int(np.searchsorted(shard.doc_start, a))
                for data, pos in shard.images(row):
                    if pos < self.settings.seq_len:  # its token is inside the sample
                        images.append(data)
                        where.append((d // n, pos))
            batch.update(self._images(images, where))
        return batch

    def _images(self, images: list, where: list) -> dict[str, torch.Tensor]:
        from curate.image_decode import decode_batch, pack_bytes

        out = {"image_positions": torch.tensor(where, dtype=torch.int32).reshape(-1, 2)}
        if self.image_decode == "cpu":
            out["images"] = torch.from_numpy(decode_batch(images, self.image_size))
        else:
            flat, offsets = pack_bytes(images)
            out["image_bytes"], out["image_offsets"] = map(torch.from_numpy, (flat, offsets))
        return out

    def _padded(self, toks: np.ndarray, lengths: np.ndarray) -> dict[str, torch.Tensor]:
        L = self.settings.seq_len
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

    # -- progress and state ------------------------------------------------------------------
    def _advance(self, samples: int) -> None:
        self._local += samples
        self.consumed = self._start + self._local * self.world_size

    def _end_epoch(self) -> None:
        self.epoch += 1
        self.consumed = self._start = self._local = 0

    def fingerprint(self) -> str:
        """What the order depends on: resuming with anything else would not be exact."""
        key = {
            "shards": [(e["path"], e["sha256"], e["documents"]) for e in self.corpus.entries],
            "selection": repr(self.corpus.selection),
            "mix": [self.mix, self.mix_block, self.samples_per_epoch]
            + ([self.mix_by] if self.mix_by != "period" else []),  # states saved before mix_by
            "settings": self.settings.__dict__,
            "document_mask": self.document_mask,
            "images": [self.image_size, self.image_decode] if self.multimodal else None,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def state_dict(self) -> dict[str, Any]:
        """Position after the samples consumed so far; the same on every rank."""
        return {
            "version": STATE_VERSION,
            "epoch": self.epoch,
            "consumed": self.consumed,
            "fingerprint": self.fingerprint(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state``, with this dataset's number of ranks and workers."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"unknown loader state version {state.get('version')}")
        if state["fingerprint"] != self.fingerprint():
            raise ValueError(
                "the state was saved for another corpus, selection or loader settings "
                "(seq_len, pack, shuffle, seed, shuffle_window, document_mask)"
            )
        epoch, consumed = state.get("epoch"), state.get("consumed")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (epoch, consumed)
        ):
            raise ValueError(f"state epoch and consumed must be non-negative integers: {state!r}")
        samples = self.order(epoch).n_samples
        if consumed > samples:
            raise ValueError(
                f"state says {consumed:,} samples of epoch {epoch} were consumed, but the epoch "
                f"holds {samples:,}"
            )
        self.epoch = epoch
        self._start = self.consumed = consumed
        self._local = 0


def _names(value: Iterable[str] | None, what: str) -> list[str] | None:
    """A list of names; a lone string (``periods="2019"``) would be read letter by letter."""
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise TypeError(f"{what} must be a list of names, not the string {value!r}")
    names = list(value)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"{what} must be names (strings): {names!r}")
    return names


def _check_selection(manifest: dict, sel: Selection) -> None:
    """Splits and periods must be ones the corpus has: a typo selects nothing, silently."""
    shards = manifest["shards"]
    splits = sorted({e["split"] for e in shards})
    if sel.split is not None and sel.split not in splits:
        raise ValueError(f"split {sel.split!r} is not in the corpus; it has {splits}")
    if sel.periods is not None:
        known = {e["period"] for e in shards}
        unknown = [p for p in sel.periods if p not in known]
        if unknown:
            raise ValueError(f"periods {unknown} are not in the corpus; it has {sorted(known)}")


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


class CorpusLoader(DataLoader):
    """A DataLoader that tells its CorpusDataset the batch size and counts the samples the
    training loop has received, so ``dataset.state_dict()`` is exact with any number of
    workers (the workers' copies of the dataset cannot see what the loop consumed)."""

    def __init__(self, dataset: CorpusDataset, batch_size: int = 1, **kwargs: Any):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        dataset.batch_size = batch_size
        dataset._external = True
        # where workers start each iteration (epoch, start, rank, world size): persistent
        # workers keep their copy of the dataset, so they read it from shared memory
        dataset._sync = torch.zeros(4, dtype=torch.int64).share_memory_()
        kwargs.setdefault("pin_memory", torch.cuda.is_available())
        # the dataset yields whole batches (vectorized); the DataLoader only moves them
        super().__init__(dataset, batch_size=None, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        ds: CorpusDataset = self.dataset  # type: ignore[assignment]
        ds._begin()
        ds._sync.copy_(torch.tensor([ds.epoch, ds._start, ds.rank, ds.world_size]))
        if self.num_workers:
            warm()
        for batch in super().__iter__() if self.num_workers else self._in_process():
            for one in batch if isinstance(batch, list) else [batch]:  # a worker's message
                one = ds._received(one) if isinstance(one, _Plan) else one
                one = one.unpack() if isinstance(one, _Wire) else one
                ds._advance(len(one["input_ids"]))
                yield one
        ds._end_epoch()

    def _in_process(self) -> Iterator[dict[str, torch.Tensor]]:
        """Without workers the dataset's batches are final: the DataLoader's per-batch
        machinery (a profiler scope, a recursive conversion) cost a fifth of a batch."""
        ds: CorpusDataset = self.dataset  # type: ignore[assignment]
        for batch in ds._batches(self.pin_memory):
            yield _pinned(batch) if self.pin_memory else batch

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()  # type: ignore[attr-defined]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)  # type: ignore[attr-defined]


def _pinned(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Packed batches are made pinned but for their small offsets: pin what is not."""
    return {k: v if v.is_pinned() else v.pin_memory() for k, v in batch.items()}


def _outputs(B: int, L: int, pin: bool):
    """Arrays for a packed batch's inputs, labels and positions, and, when ``pin``, the
    pinned tensors they view (``to_device`` then copies them as they are)."""
    if pin:
        tensors = [torch.empty((B, L), dtype=torch.int32, pin_memory=True) for _ in _PACKED]
        return [t.numpy() for t in tensors], tensors
    # numpy's allocator reuses freed batches' memory; torch's maps fresh pages
    return [np.empty((B, L), np.int32) for _ in _PACKED], None


def _assembled(arrays, tensors, cu: np.ndarray, longest: int) -> dict[str, torch.Tensor]:
    out = dict(zip(_PACKED, tensors or [torch.from_numpy(a) for a in arrays], strict=True))
    out["cu_seqlens"] = torch.from_numpy(cu)
    out["max_seqlen"] = torch.from_numpy(np.array([longest], np.int32))
    return out


def _finish(flats, shard, src, length, dest, B: int, L: int, mask: bool, pin: bool = False):
    """Inputs, labels, positions and document offsets of a packed batch from its pieces."""
    arrays, tensors = _outputs(B, L, pin)
    cu = np.empty(len(dest) + 1, np.int32)
    k, longest = fill(flats, shard, src, length, dest, L + 1, L, mask, IGNORE_INDEX, *arrays, cu)
    return _assembled(arrays, tensors, cu[:k], longest)


_PACKED = ("input_ids", "labels", "position_ids")


class _Plan:
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

    def pin_memory(self) -> _Plan:  # the DataLoader's pinning thread: pin what is made of it
        self.pin = True
        return self


class _Wire:
    """A batch as one byte buffer and its layout: a DataLoader worker hands each tensor to
    the main process through its own shared-memory segment, which costs far more than the
    copy into one buffer (measured: about 3 ms per 16 x 2048 batch with five tensors)."""

    ALIGN = 8  # every tensor starts at a multiple of the widest item size

    def __init__(self, flat, layout: list[tuple[str, torch.dtype, tuple[int, ...], int, int]]):
        self.flat, self.layout = flat, layout

    @staticmethod
    def pack(batch: dict[str, torch.Tensor]) -> _Wire:
        layout, at = [], 0
        for k, v in batch.items():
            nbytes = v.numel() * v.element_size()
            layout.append((k, v.dtype, tuple(v.shape), at, nbytes))
            at += -(-nbytes // _Wire.ALIGN) * _Wire.ALIGN
        flat = np.empty(at, np.uint8)
        for (_, _, _, start, nbytes), v in zip(layout, batch.values(), strict=True):
            flat[start : start + nbytes] = v.numpy().reshape(-1).view(np.uint8)
        return _Wire(flat, layout)

    def unpack(self) -> dict[str, torch.Tensor]:
        flat = torch.from_numpy(self.flat) if isinstance(self.flat, np.ndarray) else self.flat
        return {
            k: flat[start : start + nbytes].view(dtype).view(shape)
            for k, dtype, shape, start, nbytes in self.layout
        }

    def pin_memory(self) -> _Wire:  # called by the DataLoader's pinning thread
        return _Wire(torch.from_numpy(self.flat).pin_memory(), self.layout)


HOST_KEYS = frozenset({"image_bytes", "image_offsets"})  # the JPEG decoder reads host memory


def to_device(
    batches: Iterable[dict[str, torch.Tensor]],
    device: str | torch.device,
    image_size: int | None = None,
) -> Iterator[dict[str, torch.Tensor]]:
    """Batches on ``device``. On CUDA: pinned host memory, copies issued on a side stream while
    the caller computes on the previous batch (one batch of prefetch), and the compute stream
    waits for a batch's copy only when it receives the batch. Elsewhere: a plain ``.to``.

    Batches of encoded images (``image_decode="gpu"``) are decoded as they are issued, on a
    second side stream with nvJPEG, so decoding the next batch overlaps the caller's compute;
    ``image_size`` defaults to that of the loader's dataset. Off CUDA they are decoded on the
    CPU, so the same training loop runs anywhere.
    """
    device = torch.device(device)
    if image_size is None:
        image_size = getattr(getattr(batches, "dataset", None), "image_size", None)

    def size() -> int:
        if image_size is None:
            raise ValueError("batches hold encoded images: pass to_device(..., image_size=N)")
        return image_size

    if device.type != "cuda":
        for b in batches:
            b = {k: v if k in HOST_KEYS else v.to(device) for k, v in b.items()}
            yield decode_images(b, size(), device) if "image_bytes" in b else b
        return
    from curate.image_decode import decode_on_stream

    copy_stream, decode_stream = torch.cuda.Stream(device), torch.cuda.Stream(device)

    def issue(b: dict[str, torch.Tensor]):
        with torch.cuda.stream(copy_stream):
            out = {
                k: v
                if k in HOST_KEYS
                else (v if v.is_pinned() else v.pin_memory()).to(device, non_blocking=True)
                for k, v in b.items()
            }
        events = [torch.cuda.Event()]
        events[0].record(copy_stream)
        if "image_bytes" in out:
            decode_on_stream(out, size(), device, decode_stream)
            events.append(torch.cuda.Event())
            events[1].record(decode_stream)
        return out, events

    pending = None
    for b in batches:
        nxt = issue(b)
        if pending is not None:
            yield _handover(*pending)
        pending = nxt
    if pending is not None:
        yield _handover(*pending)


def _handover(batch: dict[str, torch.Tensor], events: list) -> dict[str, torch.Tensor]:
    compute = torch.cuda.current_stream()
    for e in events:
        compute.wait_event(e)
    for v in batch.values():
        v.record_stream(compute)  # the allocator must not reuse it before compute is done
    return batch


def decode_images(batch: dict[str, torch.Tensor], size: int, device="cuda") -> dict:
    """For ``image_decode="gpu"`` batches not sent through ``to_device``: decode the batch's
    images on ``device`` (JPEG with nvJPEG through torchvision, other formats with Pillow)
    into ``images``; the current stream waits for the decode."""
    from curate.image_decode import decode_on_device

    return decode_on_device(batch, size, device)


__all__ = [
    "IGNORE_INDEX",
    "decode_images",
    "CorpusDataset",
    "CorpusLoader",
    "collate",
    "cu_seqlens",
    "to_device",
]
