"""Line- or paragraph-level deduplication across documents: the boilerplate that survives
document dedup (navigation, cookie banners, licence footers), as in C4's repeated spans and
Dolma's paragraph dedup.

Deterministic, unlike a Bloom filter fed in arrival order: a unit (line or paragraph) found in
at least ``min_docs`` documents is kept in the earliest of them (the same survivor rule as
document dedup) and removed from every other. Units are compared after collapsing whitespace
and case; units shorter than ``min_chars`` are never touched (a lone "Thanks!" is not
boilerplate).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby

import pyarrow as pa
import xxhash

from curate.core.fileio import join, read_arrow_batch, write_arrow_batches
from curate.dedup.config import LineDedupConfig
from curate.dedup.signatures import Node, file_of

_PARAGRAPH_BREAK = re.compile(r"(\n[ \t]*\n\s*)")


def _split(text: str, unit: str) -> list[str]:
    """Units and the separators between them, alternating: joining gives the text back."""
    if unit == "line":
        parts = text.split("\n")
        return [x for p in parts for x in (p, "\n")][:-1]
    return _PARAGRAPH_BREAK.split(text)


def _key(unit_text: str, min_chars: int) -> int | None:
    norm = " ".join(unit_text.split()).lower()
    return xxhash.xxh3_64_intdigest(norm.encode()) if len(norm) >= min_chars else None


def unit_keys(text: str, cfg: LineDedupConfig) -> set[int]:
    """Keys of the document's units that are long enough to deduplicate."""
    keys = (_key(u, cfg.min_chars) for u in _split(text, cfg.unit)[::2])
    return {k for k in keys if k is not None}


def remove_units(text: str, drop: set[int], cfg: LineDedupConfig) -> tuple[str, int]:
    """The text without the dropped units, each kept unit after its own separator; the number
    of units removed."""
    parts = _split(text, cfg.unit)
    kept: list[str] = []
    removed = 0
    for i in range(0, len(parts), 2):
        if _key(parts[i], cfg.min_chars) in drop:
            removed += 1
            continue
        if kept and i > 0:
            kept.append(parts[i - 1])
        kept.append(parts[i])
    return "".join(kept), removed


@dataclass
class RepeatedUnits:
    """One bucket's line-dedup decisions: ``removals`` as (input file, [(origin, key)]),
    ``units`` ({key: (documents, earliest timestamp key)}, the state an append reads) and the
    conflicts with earlier increments (``counts``)."""

    removals: list[tuple[int, list[tuple[str, int]]]]
    units: dict[int, tuple[int, int]]
    counts: Counter


def repeated_units(
    items: Iterable[tuple[int, Node]],
    min_docs: int,
    prior: dict[int, tuple[int, int]] | None = None,
) -> RepeatedUnits:
    """(key, document) records of one bucket to removals: every document but the earliest,
    for keys found in at least ``min_docs`` documents. ``prior``: an append's earlier
    increments' ``(documents, earliest timestamp key)`` per key. Their earliest document holds
    the unit, so every new one loses it (one ranked before it arrived out of order:
    ``append.line_units_out_of_order``); earlier documents that a full build would have cut
    because the unit became repeated only now keep it (``append.line_units_kept_in_earlier``,
    only with ``min_docs`` above 2)."""
    prior = prior or {}
    by_file: dict[int, list[tuple[str, int]]] = {}
    units: dict[int, tuple[int, int]] = {}
    counts: Counter = Counter()
    for key, group in groupby(sorted(items), key=lambda it: it[0]):
        nodes = sorted({n for _, n in group})
        units[key] = (len(nodes), nodes[0][0])
        old, first = prior.get(key, (0, 0))
        if len(nodes) + old < min_docs:
            continue
        late = sum(n[0] < first for n in nodes) if old else 0
        if late:
            counts["append.line_units_out_of_order"] += late
        if 1 < old < min_docs:
            counts["append.line_units_kept_in_earlier"] += old - 1
        for node in nodes if old else nodes[1:]:
            by_file.setdefault(file_of(node), []).append((node[2], key))
    return RepeatedUnits(sorted(by_file.items()), units, counts)


_UNIT_SCHEMA = pa.schema(
    [("key", pa.uint64()), ("ts", pa.int64()), ("id", pa.string()), ("origin", pa.string())]
)


def unit_path(work_dir: str, name: str) -> str:
    """One unit's (unit key, document) records (``name``: its input file and unit)."""
    return join(work_dir, "units", f"{name}.arrow")


def write_unit_table(
    path: str, items: Iterable[tuple[int, Node]], buckets: int
) -> list[tuple[int, int]]:
    """One input file's (unit key, document) records as an Arrow file with one record batch
    per bucket (``key % buckets``); returns ``(bucket, batch index)`` pointers, which are all
    that crosses the shuffle: the records themselves (tens per document) would otherwise sit
    in the single-machine driver's memory."""
    by_bucket: dict[int, list[tuple[int, Node]]] = {}
    for key, node in items:
        by_bucket.setdefault(key % buckets, []).append((key, node))
    if not by_bucket:
        return []
    order = sorted(by_bucket)
    batches = [
        [[k for k, _ in rows], *map(list, zip(*(n for _, n in rows), strict=True))]
        for rows in (by_bucket[b] for b in order)
    ]
    write_arrow_batches(path, _UNIT_SCHEMA, batches)
    return [(bucket, i) for i, bucket in enumerate(order)]


def read_units(path: str, batch: int) -> list[tuple[int, Node]]:
    """The records of one bucket that ``write_unit_table`` wrote."""
    keys, ts, ids, origins = read_arrow_batch(path, batch)
    return list(zip(keys, zip(ts, ids, origins, strict=True), strict=True))


_DROP_SCHEMA = pa.schema([("origin", pa.string()), ("key", pa.uint64())])


def unit_drops_path(work_dir: str, bucket: int) -> str:
    return join(work_dir, "unit-drops", f"{bucket:05d}.arrow")


def write_unit_drops(
    path: str, removals: Iterable[tuple[int, list[tuple[str, int]]]]
) -> list[tuple[int, tuple[str, int]]]:
    """One bucket's removals (``repeated_units``) as an Arrow file with one batch per input
    file; returns ``(input file, (path, batch index))`` pointers for the main pass."""
    removals = list(removals)
    if not removals:
        return []
    batches = [[[o for o, _ in drops], [k for _, k in drops]] for _, drops in removals]
    write_arrow_batches(path, _DROP_SCHEMA, batches)
    return [(file_idx, (path, i)) for i, (file_idx, _) in enumerate(removals)]


def read_unit_drops(pointers: Iterable[tuple[str, int]]) -> dict[str, set[int]]:
    """An input file's unit removals, by document origin, from ``write_unit_drops`` files."""
    by_origin: dict[str, set[int]] = {}
    for path, batch in sorted(pointers):
        origins, keys = read_arrow_batch(path, batch)
        for origin, key in zip(origins, keys, strict=True):
            by_origin.setdefault(origin, set()).add(key)
    return by_origin
