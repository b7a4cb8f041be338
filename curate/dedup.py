"""Exact deduplication: one survivor per normalized text, chosen the same way on every runner.

The survivor is the copy with the earliest timestamp, ties broken by id and then by input
position; undated copies sort last. Only ``DedupEntry`` records (hash, time, id, run position)
are grouped, never the documents themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import groupby

from curate.process import DedupEntry
from curate.timeparse import us_to_iso


def resolve_bucket(entries: Iterable[DedupEntry], files: list[str]):
    """Return (drops per partition, rejected rows, counts) for one hash bucket."""
    drops: dict[tuple[str, str], list[tuple[str, int]]] = {}
    rejected: list[dict] = []
    counts: Counter = Counter()
    ordered = sorted(entries, key=DedupEntry.rank)
    for _, group in groupby(ordered, key=lambda e: e.key):
        kept, *losers = group
        for e in losers:
            drops.setdefault(e.partition, []).append((e.run, e.row))
            counts["duplicates.exact"] += 1
            same = e.partition[0] == kept.partition[0]
            counts[f"duplicates.exact_by_split.{kept.partition[0]}->{e.partition[0]}"] += 1
            file_idx, _, pos = e.origin.partition(":")
            rejected.append(
                {
                    "id": e.doc_id,
                    "file": files[int(file_idx)],
                    "position": int(pos),
                    "reason": "dedup.exact_duplicate",
                    "timestamp": _iso(e.ts_key),
                    "split": e.partition[0],
                    "period": e.partition[1],
                    "kept_id": kept.doc_id,
                    "kept_split": kept.partition[0],
                    "same_split": same,
                    "similarity": 1.0,
                }
            )
    return drops, rejected, counts


def _iso(ts_key: int) -> str | None:
    from curate.schema import SORT_LAST

    return None if ts_key == SORT_LAST else us_to_iso(ts_key)
