"""Atomic, checksummed writes through Beam's FileSystems (local, gs://, s3://, hdfs://).

A file is written under a temporary name beside its target and renamed only when complete, so
a crashed worker never leaves a half-written file under a name the manifest could list. On a
local disk, a file of ``SYNC_BYTES`` or more (or one written with ``sync=True``: a unit's
commit record) is flushed to the disk (fsync) before the rename; a smaller one is not, since
its fsync would cost more than writing it (1-2 ms each: thousands of small work files), and a
small file lost in a power cut is caught by its checksum and written again
(``curate.stages.commits``). File names are deterministic, so a retried bundle
overwrites its own earlier attempt. Inside ``recording()``, every file committed (and not
deleted again with ``delete_files``) is listed with its size and SHA-256: what a saved unit of
work is checked against before it is reused (``curate.stages.commits``).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import io
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

_RECORDED: contextvars.ContextVar[dict[str, dict] | None] = contextvars.ContextVar(
    "curate_recorded", default=None
)


@contextlib.contextmanager
def recording() -> Iterator[dict[str, dict]]:
    """``{path: {path, bytes, sha256}}`` of every file committed inside the block."""
    files: dict[str, dict] = {}
    token = _RECORDED.set(files)
    try:
        yield files
    finally:
        _RECORDED.reset(token)


@contextlib.contextmanager
def unrecorded() -> Iterator[None]:
    """Files written inside the block are not recorded (progress markers: not saved work)."""
    token = _RECORDED.set(None)
    try:
        yield
    finally:
        _RECORDED.reset(token)


def join(base: str, *parts: str) -> str:
    return FileSystems.join(base, *parts)


SYNC_BYTES = 1 << 20


class AtomicWriter(io.RawIOBase):
    """Binary writer that hashes what it writes and renames into place on ``commit()``;
    ``sync``: flush to disk before the rename (None: files of ``SYNC_BYTES`` or more)."""

    def __init__(self, path: str, sync: bool | None = None):
        super().__init__()
        self.path, self.sync = path, sync
        self._tmp = f"{path}.tmp-{uuid.uuid4().hex[:12]}"
        self._local = "://" not in path
        if self._local:  # a plain open: Beam's create costs ~0.6 ms a file more
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            self._f = open(self._tmp, "wb")  # noqa: SIM115 - closed by commit or abort
        else:
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
        """Flush to disk, close, move into place and return ``{bytes, sha256}``."""
        if self._local and (self.sync or (self.sync is None and self.nbytes >= SYNC_BYTES)):
            self._f.flush()
            os.fsync(self._f.fileno())
        self._f.close()
        if self._local:
            os.replace(self._tmp, self.path)
        else:
            FileSystems.rename([self._tmp], [self.path])
        super().close()
        info = {"bytes": self.nbytes, "sha256": self._sha.hexdigest()}
        recorded = _RECORDED.get()
        if recorded is not None:
            recorded[self.path] = {"path": self.path, **info}
        return info

    def abort(self) -> None:
        try:
            self._f.close()
        finally:
            if FileSystems.exists(self._tmp):
                FileSystems.delete([self._tmp])
            super().close()


def write_bytes(path: str, data: bytes, sync: bool | None = None) -> dict[str, Any]:
    w = AtomicWriter(path, sync)
    w.write(data)
    return w.commit()


def write_jsonl(path: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
    return write_bytes(path, body.encode("utf-8"))


def delete_files(paths: list[str]) -> None:
    """Delete files written earlier (intermediate files), and forget them if recorded."""
    recorded = _RECORDED.get()
    for p in paths:
        if recorded is not None:
            recorded.pop(p, None)
    if paths:
        FileSystems.delete(paths)


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
