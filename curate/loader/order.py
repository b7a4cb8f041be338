"""The global sample order of an epoch, and who reads which part of it.

The order is a pure function of the selected shards' sizes, the loader's settings, the seed
and the epoch, computed lazily and never from the number of ranks or workers:

1. the selected shards in a seeded permutation (a new one each epoch), and in each shard its
   documents in a seeded permutation, give the epoch's document stream;
2. packed: documents concatenated (each ends with EOS) and cut into samples of ``seq_len + 1``
   tokens that overlap by one (inputs and next-token labels), the tail shorter than a sample
   dropped; unpacked: one sample per document;
3. samples permuted within consecutive windows of ``shuffle_window`` samples.

Global step ``i`` of the epoch is the ``i``-th sample of that order. Ranks take steps
round-robin (``start + rank + j * world``) and DataLoader workers take runs of whole batches
of their rank's steps round-robin, so the samples consumed after any number of steps are exactly the
first ``consumed`` steps: resuming from ``consumed`` with any number of ranks or workers
continues the epoch with nothing repeated or skipped.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from curate.loader.packing import cut

_INDEX_SAMPLES = 65_536  # samples per document index when not shuffling


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


@dataclass(frozen=True)
class OrderSettings:
    seq_len: int
    pack: bool
    shuffle: bool
    seed: int
    shuffle_window: int


@dataclass(frozen=True)
class ShardPlan:
    """One shard's documents in epoch order: stored rows and cumulative token offsets."""

    rows: np.ndarray
    starts: np.ndarray  # len(rows) + 1 offsets into the shard's part of the stream


class EpochOrder:
    def __init__(
        self,
        tokens: np.ndarray,
        documents: np.ndarray,
        lengths: Callable[[int], np.ndarray],
        rows: Callable[[int], np.ndarray | None],
        locate: Callable[[int, np.ndarray], np.ndarray],
        settings: OrderSettings,
        epoch: int,
        ids: np.ndarray | None = None,
    ):
        """``tokens``/``documents``: per shard of this order; ``ids``: their indices among the
        corpus's selected shards (default: all of them, in order); ``lengths(s)``/``rows(s)``:
        token counts and stored rows of shard ``s``'s selected documents; ``locate(s, rows)``:
        where those rows' tokens start in the shard's storage (read only when needed)."""
        self.s = settings
        self.epoch = epoch
        self._lengths, self._rows, self._locate = lengths, rows, locate
        n = len(tokens)
        local = _rng(settings.seed, epoch, 0).permutation(n) if settings.shuffle else np.arange(n)
        self.shards = local if ids is None else np.asarray(ids)[local]
        units = (tokens if settings.pack else documents)[local].astype(np.int64)
        self.starts = np.concatenate(([0], np.cumsum(units)))
        total = int(self.starts[-1])
        if settings.pack:
            self.n_samples = max(0, (total - 1) // settings.seq_len)
            self.dropped_tokens = total - self.n_samples * settings.seq_len
        else:
            self.n_samples, self.dropped_tokens = total, 0
        self._plans: OrderedDict[int, ShardPlan] = OrderedDict()
        self._windows: OrderedDict[int, np.ndarray] = OrderedDict()
        self._window_docs: OrderedDict[int, Window] = OrderedDict()

    def plan(self, pos: int) -> ShardPlan:
        """Documents of the shard at position ``pos`` of this epoch's shard order."""
        plan = self._plans.get(pos)
        if plan is None:
            shard = int(self.shards[pos])
            lengths = self._lengths(shard)
            perm = (
                _rng(self.s.seed, self.epoch, 1, shard).permutation(len(lengths))
                if self.s.shuffle
                else np.arange(len(lengths))
            )
            stored = self._rows(shard)
            rows = perm if stored is None else stored[perm]
            plan = ShardPlan(rows, np.concatenate(([0], np.cumsum(lengths[perm]))))
            self._plans[pos] = plan
            if len(self._plans) > 64:
                self._plans.popitem(last=False)
        return plan

    def samples(self, steps: np.ndarray) -> np.ndarray:
        """The samples at global steps ``steps``: window-local permutations."""
        if not self.s.shuffle:
            return steps
        w = self.s.shuffle_window
        if steps[0] // w == steps[-1] // w:  # the usual case: one window (steps ascend)
            win = int(steps[0] // w)
            return win * w + self._window_perm(win)[steps - win * w]
        out = np.empty_like(steps)
        wins = steps // w
        for win in np.unique(wins):
            m = wins == win
            out[m] = win * w + self._window_perm(int(win))[steps[m] - win * w]
        return out

    def _window_perm(self, win: int) -> np.ndarray:
        perm = self._windows.get(win)
        if perm is None:
            w = self.s.shuffle_window
            size = min(w, self.n_samples - win * w)
            perm = _rng(self.s.seed, self.epoch, 2, win).permutation(size)
            self._windows[win] = perm
            if len(self._windows) > 4:
                self._windows.popitem(last=False)
        return perm

    def window(self, win: int) -> Window:
        """Every document of the shards that packed window ``win`` draws from."""
        w = self._window_docs.get(win)
        if w is None:
            size = self.s.shuffle_window if self.s.shuffle else _INDEX_SAMPLES
            lo = win * size * self.s.seq_len
            hi = min(self.n_samples, (win + 1) * size) * self.s.seq_len + 1
            first = int(np.searchsorted(self.starts, lo, "right")) - 1
            last = int(np.searchsorted(self.starts, hi - 1, "right")) - 1
            plans = [(p, self.plan(p)) for p in range(first, last + 1)]
            w = Window(
                np.concatenate(
                    [self.starts[p] + plan.starts[:-1] for p, plan in plans]
                    + [self.starts[last + 1 : last + 2]]
                ),
                np.concatenate([np.full(len(plan.rows), self.shards[p]) for p, plan in plans]),
                np.concatenate([self._locate(int(self.shards[p]), plan.rows) for p, plan in plans]),
            )
            self._window_docs[win] = w
            if len(self._window_docs) > 2:
                self._window_docs.popitem(last=False)
        return w

    def stream(self, samples: np.ndarray) -> tuple[Window, np.ndarray] | None:
        """Packed samples that all lie in one window (the usual batch): that window and
        where each sample starts in the stream, for ``packing.pack``; None otherwise."""
        size = self.s.shuffle_window if self.s.shuffle else _INDEX_SAMPLES
        win = int(samples[0]) // size
        inside = win * size <= samples.min() and samples.max() < (win + 1) * size
        if not self.s.pack or not inside:
            return None
        return self.window(win), samples.astype(np.int64) * self.s.seq_len

    def pieces(self, samples: np.ndarray) -> Pieces:
        """The document parts that make up ``samples``, vectorized: each sample is
        ``seq_len + 1`` tokens, written at ``dest = i * (seq_len + 1)`` onward."""
        n = self.s.seq_len + 1
        if not self.s.pack:
            return self._documents(samples, n)
        size = self.s.shuffle_window if self.s.shuffle else _INDEX_SAMPLES
        wins = samples // size
        groups = (
            [(int(wins[0]), np.arange(len(samples)))]
            if (wins == wins[0]).all()
            else [(int(win), np.flatnonzero(wins == win)) for win in np.unique(wins)]
        )
        out = []
        for win, m in groups:
            w = self.window(win)
            lo = samples[m].astype(np.int64) * self.s.seq_len
            out.append(Pieces(*cut(w.starts, w.shard, w.src, m.astype(np.int64), lo, n)))
        return Pieces.concat(out)

    def _documents(self, samples: np.ndarray, n: int) -> Pieces:
        pos = np.searchsorted(self.starts, samples, "right") - 1
        out = []
        for p in np.unique(pos):
            m = np.flatnonzero(pos == p)
            plan = self.plan(int(p))
            j = samples[m] - self.starts[p]
            lengths = np.minimum(plan.starts[j + 1] - plan.starts[j], n)
            src = self._locate(int(self.shards[p]), plan.rows[j])
            out.append(Pieces(np.full(len(j), self.shards[p]), src, lengths, m * n))
        return Pieces.concat(out)


class MixedOrder:
    """Groups of shards (periods) drawn in fixed proportions. Every block of ``block`` steps
    holds exactly ``quota[g]`` samples of group ``g`` (the weights apportioned to the block by
    largest remainders), in a seeded order within the block; group ``g``'s ``k``-th sample is
    the ``k``-th step of its own order, which starts a new pass (a new permutation) each time
    the group runs out. So the proportions are exact over every block, and which sample comes
    at a step is a pure function of (step, settings, seed, epoch), as resumption needs."""

    def __init__(
        self,
        group_order: Callable[[int, int], EpochOrder],
        weights: list[float],
        block: int,
        n_samples: int,
        seed: int,
        epoch: int,
    ):
        self._group_order, self.seed, self.epoch, self.block = group_order, seed, epoch, block
        self.quota = apportion(weights, block)
        if (self.quota == 0).any():
            raise ValueError(f"mix_block {block} is too small for these weights: raise it")
        self.sizes = [group_order(g, 0).n_samples for g in range(len(weights))]
        if 0 in self.sizes:
            raise ValueError("a mixed group has no complete sample")
        self.n_samples = max(block, n_samples // block * block)
        self.dropped_tokens = 0
        self._slots: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _block(self, b: int) -> tuple[np.ndarray, np.ndarray]:
        """Group of each slot of block ``b``, and how many of that group precede it there."""
        got = self._slots.get(b)
        if got is None:
            groups = _rng(self.seed, self.epoch, 3, b).permutation(
                np.repeat(np.arange(len(self.quota)), self.quota)
            )
            rank = np.empty(len(groups), np.int64)
            for g in range(len(self.quota)):
                at = np.flatnonzero(groups == g)
                rank[at] = np.arange(len(at))
            got = self._slots[b] = (groups, rank)
            if len(self._slots) > 4:
                self._slots.popitem(last=False)
        return got

    def samples(self, steps: np.ndarray) -> np.ndarray:
        return steps  # the mapping to groups happens in ``pieces``

    def pieces(self, steps: np.ndarray) -> Pieces:
        n = self._group_order(0, 0).s.seq_len + 1
        group = np.empty(len(steps), np.int64)
        k = np.empty(len(steps), np.int64)
        for b in np.unique(steps // self.block).tolist():
            m = np.flatnonzero(steps // self.block == b)
            groups, rank = self._block(b)
            j = steps[m] - b * self.block
            group[m] = groups[j]
            k[m] = b * self.quota[groups[j]] + rank[j]
        out = []
        sizes = np.asarray(self.sizes)[group]
        passes, local = np.divmod(k, sizes)
        for g, p in sorted(set(zip(group.tolist(), passes.tolist(), strict=True))):
            m = np.flatnonzero((group == g) & (passes == p))
            order = self._group_order(g, p)
            sub = order.pieces(order.samples(local[m]))
            i, off = np.divmod(sub.dest, n)
            out.append(Pieces(sub.shard, sub.src, sub.length, m[i] * n + off))
        return Pieces.concat(out)


def check_weights(weights: list[float]) -> None:
    w = np.asarray(weights, float)
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"mix weights must be finite, non-negative and not all zero: {weights}")


def apportion(weights: list[float], total: int) -> np.ndarray:
    """``total`` split in proportion to ``weights`` by largest remainders (ties: first)."""
    check_weights(weights)
    w = np.asarray(weights, float)
    exact = w / w.sum() * total
    out = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - out), kind="stable")
    out[order[: total - out.sum()]] += 1
    return out


@dataclass(frozen=True)
class Window:
    """Documents in epoch order: first token in the stream (plus the end), shard, and where
    the document's tokens start in the shard's storage."""

    starts: np.ndarray
    shard: np.ndarray
    src: np.ndarray


@dataclass
class Pieces:
    """Parts of documents, sorted by ``dest``: shard, where the part's tokens start in the
    shard's storage, length, and where the part goes in the batch's flat
    ``(samples, seq_len + 1)`` buffer. Packed pieces tile that buffer exactly."""

    shard: np.ndarray
    src: np.ndarray
    length: np.ndarray
    dest: np.ndarray

    @staticmethod
    def concat(parts: list[Pieces]) -> Pieces:
        fields = ("shard", "src", "length", "dest")
        if len(parts) == 1:
            return parts[0]
        joined = Pieces(*(np.concatenate([getattr(p, f) for p in parts]) for f in fields))
        order = np.argsort(joined.dest)
        return Pieces(*(getattr(joined, f)[order] for f in fields))


def rank_batches(
    n_samples: int,
    start: int,
    rank: int,
    world: int,
    worker: int,
    workers: int,
    batch: int,
    chunk: int = 1,
) -> Iterator[list[np.ndarray]]:
    """Global steps of the batches of one worker of one rank, in chunks of up to ``chunk``
    consecutive batches: the worker's share is every ``workers``-th chunk, and the DataLoader
    takes its workers' outputs round-robin, so batches arrive in the order one process reads
    them. Every rank gets the same number of steps: the last ``(n_samples - start) % world``
    steps of the epoch are dropped (``dropped_for_ranks``)."""
    per_rank = (n_samples - start) // world
    n_batches = -(-per_rank // batch)
    for c in range(worker, -(-n_batches // chunk), workers):
        yield [
            start
            + np.arange(b * batch, min((b + 1) * batch, per_rank), dtype=np.int64) * world
            + rank
            for b in range(c * chunk, min((c + 1) * chunk, n_batches))
        ]


def dropped_for_ranks(n_samples: int, start: int, world: int) -> int:
    return (n_samples - start) % world
