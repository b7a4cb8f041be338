"""Parquet, one record per row: a batch of rows Python cannot hold is quarantined row by row,
an unreadable file ends with one ``BadRecord``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from curate.readers.records import BadRecord, RawRecord


def read_parquet(raw: IO[bytes], max_doc_bytes: int) -> Iterator:
    import pyarrow.parquet as pq

    row = 0
    try:
        pf = pq.ParquetFile(raw)
        for batch in pf.iter_batches(batch_size=1024):
            try:
                values = _microseconds(batch).to_pylist()
            except Exception as e:  # noqa: BLE001 - a value Python cannot hold: these rows only
                for _ in range(batch.num_rows):
                    yield BadRecord(row, "bad_type", f"parquet: {type(e).__name__}: {e}"[:500])
                    row += 1
                continue
            for value in values:
                yield RawRecord(row, value, 0)
                row += 1
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files
        yield BadRecord(row, "read_error", f"parquet: {type(e).__name__}: {e}")


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
