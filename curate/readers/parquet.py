"""Parquet, one record per row, read one row group at a time: a row Python cannot hold is
quarantined on its own, an unreadable file ends with one ``BadRecord``. Units of work start at
a row group."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from curate.readers.records import BadRecord, RawRecord, Resume

BATCH_ROWS = 1024


def read_parquet(
    raw: IO[bytes], max_doc_bytes: int, start: Resume | None = None, unit_bytes: int = 0
) -> Iterator:
    """Rows from the first, or from ``start`` (a row group's first row); with ``unit_bytes``,
    a ``Resume`` before the first row group after each ``unit_bytes`` of row groups (their
    uncompressed size in the file's metadata)."""
    import pyarrow.parquet as pq

    row = start.position if start is not None else 0
    first = start.state.get("row_group", 0) if start is not None else 0
    try:
        pf = pq.ParquetFile(raw)
        since = 0
        for group in range(first, pf.num_row_groups):
            if unit_bytes and since >= unit_bytes:
                yield Resume(row, None, {"row_group": group})
                since = 0
            since += pf.metadata.row_group(group).total_byte_size
            for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
                for value in _values(batch, row):
                    yield value
                    row += 1
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files
        yield BadRecord(row, "read_error", f"parquet: {type(e).__name__}: {e}")


def _values(batch, row: int) -> Iterator:
    """The batch's rows as records; when one holds a value Python cannot hold, each row is
    tried on its own, and only those that fail are quarantined."""
    try:
        values = _microseconds(batch).to_pylist()
    except Exception:  # noqa: BLE001 - row by row, to find the bad ones
        for i in range(batch.num_rows):
            try:
                (value,) = _microseconds(batch.slice(i, 1)).to_pylist()
            except Exception as e:  # noqa: BLE001 - a value Python cannot hold
                yield BadRecord(row + i, "bad_type", f"parquet: {type(e).__name__}: {e}"[:500])
                continue
            yield RawRecord(row + i, value, 0)
        return
    for i, value in enumerate(values):
        yield RawRecord(row + i, value, 0)


def _microseconds(batch):
    """Nanosecond times and durations (pandas' default) cut to microseconds: Python's datetime
    cannot hold a nanosecond, and pyarrow refuses the whole batch when one has any."""
    import pyarrow as pa

    for i, f in enumerate(batch.schema):
        t = f.type
        if (pa.types.is_timestamp(t) or pa.types.is_duration(t)) and t.unit == "ns":
            us = pa.timestamp("us", t.tz) if pa.types.is_timestamp(t) else pa.duration("us")
            batch = batch.set_column(i, f.name, batch.column(i).cast(us, safe=False))
    return batch
