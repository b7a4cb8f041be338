"""What dedup takes out of the shards, as work-directory files the shard writers and the saved
dedup state read.

Each removal stage writes, per bucket of clusters, one Arrow file with a record batch per
partition (split, period): the run and row of every copy it drops, or of every cross-split copy
it keeps with a flag (``kept_id`` set). Only ``(partition, (path, batch))`` pointers cross the
shuffle to the shard writers: the rows grow with the duplicates, and with the corpus, and on
the single-machine runner a shuffle lives in the driver's memory (at 64x the benchmark corpus
they held 400 MB between the driver and the workers that re-encoded them). The removed
documents' ``(vertex, survivor, flagged)`` rows go the same way to the per-file step that saves
the dedup state, as ``(input file, (path, first row, count))`` pointers.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyarrow as pa

from curate.core.document import vertex_file
from curate.core.fileio import join, read_arrow_batch, write_arrow_batches
from curate.dedup.signatures import read_slice, write_bucketed

Partition = tuple[str, str]

_SCHEMA = pa.schema([("run", pa.string()), ("row", pa.int64()), ("kept_id", pa.string())])


REMOVED_RECORD = np.dtype((np.int64, 3))  # (vertex, survivor, flagged): reads back as (n, 3)


def drops_path(work_dir: str, stage: str, bucket: int) -> str:
    return join(work_dir, "drops", f"{stage}-{bucket:05d}.arrow")


def removed_path(work_dir: str, stage: str, bucket: int) -> str:
    return join(work_dir, "removed", f"{stage}-{bucket:05d}.bin")


def write_drops(
    path: str, drops: dict[Partition, list[tuple]]
) -> list[tuple[Partition, tuple[str, int]]]:
    """One bucket's drops (``clusters.removals``: ``(run, rows)`` or ``(run, row, kept_id)``
    per partition) as one record batch per partition; returns the pointers."""
    parts = sorted(drops)
    if not parts:
        return []
    batches = []
    for part in parts:
        runs, rows, kept = [], [], []
        for run, where, *flag in drops[part]:
            where = [where] if flag else where.tolist()
            runs += [run] * len(where)
            rows += where
            kept += [flag[0] if flag else None] * len(where)
        batches.append([runs, rows, kept])
    write_arrow_batches(path, _SCHEMA, batches)
    return [(part, (path, i)) for i, part in enumerate(parts)]


def read_drops(
    pointers: Iterable[tuple[str, int]],
) -> tuple[dict[str, set[int]], dict[str, dict[int, str]]]:
    """A partition's dropped rows by run, and its flagged rows by run with the kept copy's id."""
    drops: dict[str, set[int]] = {}
    flags: dict[str, dict[int, str]] = {}
    for path, batch in sorted(pointers):
        runs, rows, kept = read_arrow_batch(path, batch)
        for run, row, kept_id in zip(runs, rows, kept, strict=True):
            if kept_id is None:
                drops.setdefault(run, set()).add(row)
            else:
                flags.setdefault(run, {})[row] = kept_id
    return drops, flags


def write_removed(path: str, removed: np.ndarray) -> list[tuple[int, tuple[str, int, int]]]:
    """One bucket's removed documents grouped by input file; returns the pointers."""
    if not len(removed):
        return []
    slices = write_bucketed(path, removed, vertex_file(removed[:, 0]))
    return [(f, (path, start, count)) for f, start, count in slices]


def read_removed(slices: Iterable[tuple[str, int, int]]) -> np.ndarray:
    """An input file's removed documents, from the slices ``write_removed`` pointed at."""
    parts = [read_slice(REMOVED_RECORD, *s) for s in sorted(slices)]
    return np.concatenate([*parts, np.empty((0, 3), np.int64)])
