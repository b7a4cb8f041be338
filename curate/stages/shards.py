"""Merge a partition's sorted runs into final token shards.

A streaming k-way merge on (timestamp, id, input position) gives one canonical order whatever
the number of workers or runs, and record batches of a fixed row count, so the shards are
byte-identical across runners. Memory is one record batch per run (``RUN_BATCH_ROWS``) plus
one output batch, and at most ``MERGE_FAN_IN`` runs are merged at once: a partition's runs
multiply with the input files (one or more per file), so a larger corpus first merges groups of
runs into longer ones in the work directory, as an external sort does. Each open run costs
about 0.6 MB (its batch in flight and the pages Arrow's allocator keeps): measured on a
partition of the 16x benchmark corpus, 134 runs in one pass took 119 MB over the worker's
baseline, 77 MB with a fan-in of 16; at 64x (534 runs) one pass would take about 350 MB. The
merge key (timestamp, id, origin) is unique, so the extra pass changes no output byte.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from curate.core.document import SORT_LAST, metadata_json
from curate.core.fileio import AtomicWriter, delete_files, join
from curate.core.memory import release_unused
from curate.core.timeparse import us_to_iso
from curate.stages.config import OutputConfig
from curate.stages.spill import RUN_BATCH_ROWS

MERGE_FAN_IN = 32  # runs merged at once (see the module docstring)


def _run_rows(path: str, run_idx: int, drop: set[int], flag: dict[int, str]) -> Iterator[tuple]:
    row = 0
    with FileSystems.open(path, compression_type="uncompressed") as f:
        reader = pa.ipc.open_stream(f)
        for batch in reader:
            ts = batch.column("_ts_key").to_pylist()
            ids = batch.column("doc_id").to_pylist()
            origins = batch.column("_origin").to_pylist()
            ntok = batch.column("n_tokens").to_pylist()
            nimg = (
                batch.column("_image_bytes").to_pylist()
                if "_image_bytes" in batch.schema.names
                else [0] * batch.num_rows
            )
            for i in range(batch.num_rows):
                if row not in drop:
                    yield (
                        ts[i], ids[i], origins[i], run_idx, batch, i, ntok[i], nimg[i],
                        flag.get(row),
                    )  # fmt: skip
                row += 1


_COMPACT_SEGMENTS = 64


def _merged(runs: list[str], drops: dict[str, set[int]], flags: dict[str, dict[int, str]]):
    """The runs' kept rows in the canonical order, flagged rows with their metadata marked:
    ``(ts, batch, row, n_tokens, image_bytes, flagged)``, where a flagged row is a one-row
    batch of its own. The key (timestamp, id, origin) is unique, so the run index never
    decides the order and merging in several passes gives the same sequence."""
    streams = [_run_rows(r, i, drops.get(r, set()), flags.get(r, {})) for i, r in enumerate(runs)]
    for ts, _id, _origin, _run, batch, i, n_tok, n_img, leaked_from in heapq.merge(
        *streams, key=lambda r: r[:4]
    ):
        if leaked_from is not None:
            yield ts, _flagged(batch, i, leaked_from), 0, n_tok, n_img, True
        else:
            yield ts, batch, i, n_tok, n_img, False


def _run_schema(path: str) -> pa.Schema:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return pa.ipc.open_stream(f).schema


def _merge_into_run(
    runs: list[str],
    drops: dict[str, set[int]],
    flags: dict[str, dict[int, str]],
    path: str,
) -> None:
    """One longer run from ``runs``, with drops left out and flags applied."""
    schema = _run_schema(runs[0])
    w = AtomicWriter(path)
    with pa.ipc.new_stream(w, schema) as writer:
        pending: list[pa.RecordBatch] = []
        rows = 0
        seg: list = []
        for _ts, batch, i, *_, flagged in _merged(runs, drops, flags):
            if seg and seg[0] is batch and seg[2] == i and not flagged:
                seg[2] = i + 1
                continue
            if seg:
                pending.append(seg[0].slice(seg[1], seg[2] - seg[1]))
                rows += seg[2] - seg[1]
            seg = [batch, i, i + 1]
            if rows >= RUN_BATCH_ROWS:  # copy out: a slice keeps its whole source batch
                table = pa.Table.from_batches(pending, schema).combine_chunks()
                writer.write_table(table, max_chunksize=RUN_BATCH_ROWS)
                pending, rows = [], 0
        if seg:
            pending.append(seg[0].slice(seg[1], seg[2] - seg[1]))
        if pending:
            writer.write_table(pa.Table.from_batches(pending, schema), max_chunksize=RUN_BATCH_ROWS)
    w.commit()


def _premerge(
    runs: list[str],
    drops: dict[str, set[int]],
    flags: dict[str, dict[int, str]],
    work_dir: str,
    split: str,
    period: str,
    fan_in: int,
) -> list[str]:
    """Merge groups of ``fan_in`` runs until at most that many are left; drops and
    flags are applied in the first pass. Intermediate runs are deleted once merged."""
    level = 0
    while len(runs) > fan_in:
        merged = []
        for g in range(0, len(runs), fan_in):
            name = f"level{level}-{g // fan_in:05d}.arrow"
            path = join(work_dir, "merge", f"split={split}", f"period={period}", name)
            _merge_into_run(runs[g : g + fan_in], drops, flags, path)
            merged.append(path)
            release_unused()
        if level:
            delete_files(runs)
        runs, drops, flags = merged, {}, {}
        level += 1
    return runs


def _packed(batches: list[pa.RecordBatch], schema: pa.Schema) -> pa.Table:
    """The batches as one chunk per column in fresh, exactly sized buffers. The IPC writer
    copies a string or list column's values from the batch's first offset to the end of the
    buffer: a batch cut from a longer table carried the next rows' bytes too (8 of 1,557
    batches at 64x the benchmark corpus), so shard bytes depended on how rows reached the
    merge."""
    return pa.table(
        [pa.concat_arrays([b.column(i) for b in batches]) for i in range(len(schema))],
        schema=schema,
    )


class _ShardSink:
    def __init__(
        self, out_dir: str, split: str, period: str, schema: pa.Schema, rows_per_batch: int
    ):
        self.out_dir = out_dir
        self.split, self.period = split, period
        self.schema = schema
        self.rows_per_batch = rows_per_batch
        self.infos: list[dict] = []
        self._writer = None
        self._w: AtomicWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._fresh = 0  # segments added since the last compaction
        self._docs = self._tokens = 0
        self._tmin = self._tmax = None

    def add(self, batch: pa.RecordBatch, tokens: int, ts_min, ts_max) -> None:
        self._pending.append(batch)
        self._fresh += 1
        if self._fresh >= _COMPACT_SEGMENTS:
            self._compact()
        self._pending_rows += batch.num_rows
        self._docs += batch.num_rows
        self._tokens += tokens
        if ts_min is not None:
            self._tmin = ts_min if self._tmin is None else min(self._tmin, ts_min)
            self._tmax = ts_max if self._tmax is None else max(self._tmax, ts_max)
        if self._pending_rows >= self.rows_per_batch:
            self._write_pending()

    def _compact(self) -> None:
        """Copy the newest segments into one batch. A segment is a slice of a run's batch and
        keeps that whole batch alive, and an output batch's rows come from every run: held
        until written, the slices kept about one batch per run per output batch (measured:
        70 MB more per worker at 4x the benchmark corpus)."""
        fresh = self._pending[-self._fresh :]
        table = pa.Table.from_batches(fresh, self.schema).combine_chunks()
        self._pending[-self._fresh :] = table.to_batches()
        self._fresh = 0

    def _write_pending(self, final: bool = False) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._w = AtomicWriter(join(self.out_dir, self.relpath(len(self.infos))))
            self._writer = pa.ipc.new_file(self._w, self.schema)
        table = pa.Table.from_batches(self._pending, self.schema)
        full = (
            table.num_rows if final else table.num_rows // self.rows_per_batch * self.rows_per_batch
        )
        # batch boundaries depend only on the row count, never on how the input was chunked;
        # each row is copied once, into its batch or into the rest
        for start in range(0, full, self.rows_per_batch):
            rows = table.slice(start, min(self.rows_per_batch, full - start))
            self._writer.write_batch(_packed(rows.to_batches(), self.schema).to_batches()[0])
        rest = table.slice(full)
        self._pending = []
        if rest.num_rows:
            self._pending = _packed(rest.to_batches(), self.schema).to_batches()
        self._pending_rows = rest.num_rows
        self._fresh = 0  # the rest is a copy

    def relpath(self, n: int) -> str:
        return f"tokens/split={self.split}/period={self.period}/shard-{n:05d}.arrow"

    def tokens(self) -> int:
        return self._tokens

    def close_shard(self) -> None:
        self._write_pending(final=True)
        if self._writer is None:
            return
        self._writer.close()
        info = self._w.commit()
        self.infos.append(
            {
                "path": self.relpath(len(self.infos)),
                "split": self.split,
                "period": self.period,
                "documents": self._docs,
                "tokens": self._tokens,
                "min_time": us_to_iso(self._tmin),
                "max_time": us_to_iso(self._tmax),
                **info,
            }
        )
        self._writer = self._w = None
        self._docs = self._tokens = 0
        self._tmin = self._tmax = None


def _flagged(batch: pa.RecordBatch, i: int, kept_id: str) -> pa.RecordBatch:
    """Row ``i`` alone, with ``leaked_from: kept_id`` added to its metadata."""
    row = batch.slice(i, 1)
    meta = row.column("metadata")[0].as_py()
    value = {**(json.loads(meta) if meta else {}), "leaked_from": kept_id}
    col = row.schema.get_field_index("metadata")
    return row.set_column(col, "metadata", pa.array([metadata_json(value)], pa.string()))


def merge_partition(
    split: str,
    period: str,
    runs: list[str],
    drops: dict[str, set[int]],
    out_dir: str,
    shard_schema: pa.Schema,
    output: OutputConfig,
    flags: dict[str, dict[int, str]] | None = None,
    work_dir: str | None = None,
    fan_in: int = MERGE_FAN_IN,
) -> list[dict]:
    """Write the partition's shards into ``out_dir``; return one manifest entry per shard. A
    shard closes once it holds ``output.shard_tokens`` tokens or ``output.shard_image_bytes``
    of image data; record batches hold ``output.rows_per_batch`` rows. With more than
    ``fan_in`` runs, intermediate runs go to ``work_dir`` (required then)."""
    shard_tokens, shard_image_bytes = output.shard_tokens, output.shard_image_bytes
    runs = sorted(set(runs))
    flags = flags or {}
    premerged = len(runs) > fan_in
    if premerged:
        if work_dir is None:
            raise ValueError(f"{len(runs)} runs to merge need a work_dir")
        runs = _premerge(runs, drops, flags, work_dir, split, period, fan_in)
        drops, flags = {}, {}
    sink = _ShardSink(out_dir, split, period, shard_schema, output.rows_per_batch)
    names = shard_schema.names
    seg: list = []  # consecutive rows of one source batch: [batch, start, stop]
    seg_tokens = seg_bytes = shard_bytes = 0
    seg_ts: list[int] = []

    def emit() -> None:
        nonlocal seg, seg_tokens, seg_ts, seg_bytes, shard_bytes
        if seg:
            batch, start, stop = seg
            part = batch.slice(start, stop - start).select(names)
            dated = [t for t in seg_ts if t != SORT_LAST]
            sink.add(part, seg_tokens, min(dated, default=None), max(dated, default=None))
        shard_bytes += seg_bytes
        seg, seg_tokens, seg_ts, seg_bytes = [], 0, [], 0

    for ts, batch, i, n_tok, n_img, flagged in _merged(runs, drops, flags):
        if flagged:  # one row with its metadata marked: its own segment
            emit()
        full = sink.tokens() + seg_tokens >= shard_tokens
        full |= shard_bytes + seg_bytes >= shard_image_bytes
        if full and (sink.tokens() or seg_tokens):
            emit()
            sink.close_shard()
            shard_bytes = 0
        if seg and seg[0] is batch and seg[2] == i:
            seg[2] = i + 1
        else:
            emit()
            seg = [batch, i, i + 1]
        seg_tokens += n_tok
        seg_bytes += n_img
        seg_ts.append(ts)
    emit()
    sink.close_shard()
    if premerged:  # intermediate runs only: a retried bundle merges the originals again
        delete_files(runs)
    return sink.infos
