"""An epoch's sample order over a corpus selection: one ``EpochOrder`` over every selected shard,
or, with ``mix``, a ``MixedOrder`` that draws periods or sources in exact proportions from one
order per group (``curate.loader.order`` holds both; this module picks the groups)."""

from __future__ import annotations

import numpy as np

from curate.loader.corpus import Corpus
from curate.loader.order import EpochOrder, MixedOrder, OrderSettings


def epoch_order(
    corpus: Corpus,
    settings: OrderSettings,
    epoch: int,
    mix: tuple[dict[str, float], str, int] | None,
    samples_per_epoch: int | None,
) -> EpochOrder | MixedOrder:
    """``mix``: (weights by period or source name, "period" or "source", block size)."""
    if mix is None:
        return _group_order(corpus, settings, np.arange(len(corpus.entries)), epoch)
    weights, mix_by, block = mix
    groups = _mix_groups(corpus, weights, mix_by)
    cache: dict[tuple[int, int], EpochOrder] = {}

    def group_order(g: int, p: int) -> EpochOrder:
        if (g, p) not in cache:
            if len(cache) > 16:
                cache.clear()
            ids, rows = groups[g]
            cache[g, p] = _group_order(corpus, settings, ids, epoch * 1_000_003 + p, rows)
        return cache[g, p]

    total = samples_per_epoch or sum(group_order(g, 0).n_samples for g in range(len(groups)))
    return MixedOrder(group_order, list(weights.values()), block, total, settings.seed, epoch)


def _mix_groups(
    corpus: Corpus, weights: dict[str, float], mix_by: str
) -> list[tuple[np.ndarray, dict[int, np.ndarray] | None]]:
    """Per mixed group: its shards, and for sources the stored rows of its documents in
    each of them (None: the shards' selected documents, as for periods)."""
    entries = corpus.entries
    if mix_by == "period":
        by_period = [[i for i, e in enumerate(entries) if e["period"] == n] for n in weights]
        groups = [(np.array(ids, np.int64), None) for ids in by_period]
    else:
        rows: list[dict[int, np.ndarray]] = [{} for _ in weights]
        for i in range(len(entries)):
            shard, kept = corpus.shard(i), corpus.doc_index(i)
            for g, name in enumerate(weights):
                mine = np.flatnonzero(shard.has_source((name,)))
                mine = mine if kept is None else np.intersect1d(mine, kept)
                if len(mine):
                    rows[g][i] = mine
        groups = [(np.array(sorted(r), np.int64), r) for r in rows]
    missing = [name for name, (ids, _) in zip(weights, groups, strict=True) if not len(ids)]
    if missing:
        raise ValueError(f"mix names {mix_by}s with nothing selected: {missing}")
    return groups


def _group_order(
    corpus: Corpus,
    settings: OrderSettings,
    ids: np.ndarray,
    key: int,
    rows: dict[int, np.ndarray] | None = None,
) -> EpochOrder:
    """The order over shards ``ids``; ``rows`` narrows each to those stored rows."""
    c = corpus
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
        c.locate, settings, key, ids,
    )  # fmt: skip
