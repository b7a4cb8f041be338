"""Atomic, checksummed writes through Beam's FileSystems (local, gs://, s3://, hdfs://).

A file is written under a temporary name beside its target and renamed only when complete, so
a crashed worker never leaves a half-written file under a name the manifest could list. File
names are deterministic, so a retried bundle overwrites its own earlier attempt.
"""

from __future__ import annotations

import hashlib
import io
import json
import uuid
from typing import Any

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


class AtomicWriter(io.RawIOBase):
    """Binary writer that hashes what it writes and renames into place on ``commit()``."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self._tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
        self._f = FileSystems.create(self._tmp)
        self._sha = hashlib.sha256()
        self.nbytes = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        self._f.write(data)
        self._sha.update(data)
        self.nbytes += len(data)
        return len(data)

    def tell(self) -> int:
        return self.nbytes

    def commit(self) -> dict[str, Any]:
        """Close, move into place and return ``{bytes, sha256}``."""
        self._f.close()
        FileSystems.rename([self._tmp], [self.path])
        super().close()
        return {"bytes": self.nbytes, "sha256": self._sha.hexdigest()}

    def abort(self) -> None:
        try:
            self._f.close()
        finally:
            if FileSystems.exists(self._tmp):
                FileSystems.delete([self._tmp])
            super().close()


def write_bytes(path: str, data: bytes) -> dict[str, Any]:
    w = AtomicWriter(path)
    w.write(data)
    return w.commit()


def write_jsonl(path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    return write_bytes(path, body.encode("utf-8"))


def delete_tree(path: str) -> None:
    """Delete every file under ``path`` (a prefix on object stores)."""
    if not FileSystems.exists(path):
        return
    FileSystems.delete([path])


def write_arrow_batches(path: str, schema: pa.Schema, batches: list[list[list]]) -> None:
    """An Arrow file with one record batch per entry of ``batches`` (its columns as lists):
    work-directory data that a shuffle points at by ``(path, batch index)``."""
    w = AtomicWriter(path)
    with pa.ipc.new_file(w, schema) as writer:
        for columns in batches:
            writer.write_batch(pa.record_batch(columns, schema=schema))
    w.commit()


def read_arrow_batch(path: str, batch: int) -> list[list]:
    """The columns of one record batch that ``write_arrow_batches`` wrote, as lists; reads the
    file's footer and that batch only."""
    with FileSystems.open(path, compression_type="uncompressed") as f:
        b = pa.ipc.open_file(pa.PythonFile(f, mode="r")).get_batch(batch)
        return [column.to_pylist() for column in b.columns]
