"""The dedup state a corpus keeps, so that an append deduplicates new files against everything
already in it without reading its shards (docs/append.md has the format and sizes).

Each build or append writes its own state under its folder (``dedup/`` at the corpus root for
the first build, ``increments/NNNN/dedup/`` for each append); nothing written is rewritten:

- ``docs/FFFFF.arrow``: per input file, every document that reached dedup, kept or not, in input
  order (record batches of ``STATE_BATCH_ROWS``, whatever units the file was read in): the
  signature table's columns (vertex, rank, split, period, text key, MinHash signature or pHash,
  shingles when verified) plus ``kept`` and ``survivor`` (the vertex its duplicate cluster kept;
  -1 when none). Removed documents stay: a new copy near a removed one joins that cluster in a
  full build, so it must here too.
- ``exact/BBBBB.{keys,vertex}.npy``: one hash bucket's text keys, sorted, and their vertices.
- ``bands/BBBBB.{hash,rec}.npy``: one hash bucket's LSH band hashes, sorted, and their records.
- ``lines/BBBBB.{keys,count,first}.npy``: with line dedup, one bucket's unit keys, sorted, the
  number of documents holding each and the earliest one's timestamp key.

An append looks up only the new documents' keys in the sorted arrays (memory-mapped binary
search), so its memory does not grow with the corpus it appends to.
"""

from __future__ import annotations

import bisect
import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import AtomicWriter, join
from curate.dedup.signatures import BAND_RECORD, EXACT_RECORD, SignatureTable

STATE_DIR = "dedup"
STATE_BATCH_ROWS = 65536  # rows per record batch of a saved document table


def docs_path(state_dir: str, file_idx: int) -> str:
    return join(state_dir, "docs", f"{file_idx:05d}.arrow")


def _bucket_path(state_dir: str, kind: str, bucket: int, part: str) -> str:
    return join(state_dir, kind, f"{bucket:05d}.{part}.npy")


@dataclass(frozen=True)
class PriorState:
    """The states of a corpus's earlier increments: ``(first input file, state folder)`` each,
    in order, and the first input file of the increment being built."""

    parts: tuple[tuple[int, str], ...]
    first_new: int

    def docs_path(self, file_idx: int) -> str:
        i = bisect.bisect_right([first for first, _ in self.parts], file_idx) - 1
        return docs_path(self.parts[i][1], file_idx)

    def is_old(self, file_idx) -> bool:
        return file_idx < self.first_new


def _save(path: str, array: np.ndarray) -> dict:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    w = AtomicWriter(path)
    w.write(buf.getvalue())
    return {"path": path, "kind": "dedup_state", "records": len(array), **w.commit()}


def _load(path: str) -> np.ndarray | None:
    """A saved array, memory-mapped when local (only the pages a search touches are read)."""
    if not FileSystems.exists(path):
        return None
    if FileSystems.get_scheme(path) is None:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return np.load(io.BytesIO(f.read()), allow_pickle=False)


def save_exact(state_dir: str, bucket: int, records: np.ndarray) -> list[dict]:
    r = np.sort(records, order=("key", "vertex"))
    return [
        _save(_bucket_path(state_dir, "exact", bucket, "keys"), r["key"]),
        _save(_bucket_path(state_dir, "exact", bucket, "vertex"), r["vertex"]),
    ]


def save_bands(state_dir: str, bucket: int, records: np.ndarray) -> list[dict]:
    r = np.sort(records, order=("hash", "band", "ref"))
    return [
        _save(_bucket_path(state_dir, "bands", bucket, "hash"), r["hash"]),
        _save(_bucket_path(state_dir, "bands", bucket, "rec"), r),
    ]


def _ranges(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices into ``sorted_keys`` of every element equal to one of ``keys``."""
    keys = np.unique(keys)
    lo = np.searchsorted(sorted_keys, keys, "left")
    hi = np.searchsorted(sorted_keys, keys, "right")
    hit = hi > lo
    if not hit.any():
        return np.empty(0, np.int64)
    return np.concatenate([np.arange(a, b) for a, b in zip(lo[hit], hi[hit], strict=True)])


def prior_exact(prior: PriorState, bucket: int, records: np.ndarray) -> np.ndarray:
    """The earlier increments' exact records sharing a text key with ``records``."""
    out = [np.empty(0, EXACT_RECORD)]
    for _, state in prior.parts:
        keys = _load(_bucket_path(state, "exact", bucket, "keys"))
        if keys is None:
            continue
        idx = _ranges(keys, records["key"])
        if len(idx):
            vertex = _load(_bucket_path(state, "exact", bucket, "vertex"))
            found = np.empty(len(idx), EXACT_RECORD)
            found["key"], found["vertex"] = keys[idx], vertex[idx]
            out.append(found)
    return np.concatenate(out)


def prior_bands(prior: PriorState, bucket: int, records: np.ndarray) -> np.ndarray:
    """The earlier increments' band records sharing a band key (band and hash) with
    ``records``."""
    out = [np.empty(0, BAND_RECORD)]
    wanted = np.unique(records[["band", "hash"]])
    for _, state in prior.parts:
        hashes = _load(_bucket_path(state, "bands", bucket, "hash"))
        if hashes is None:
            continue
        idx = _ranges(hashes, records["hash"])
        if len(idx):
            found = np.asarray(_load(_bucket_path(state, "bands", bucket, "rec"))[idx])
            same = np.isin(found[["band", "hash"]], wanted)
            out.append(found[same])
    return np.concatenate(out)


def save_docs(table_path: str, state_dir: str, file_idx: int, removed: np.ndarray) -> dict:
    """One input file's document table with ``kept`` and ``survivor``: ``removed`` holds
    ``(vertex, survivor, flagged)`` rows for the documents dedup removed or flagged (survivor
    -1: removed without a cluster, by the cross-split threshold). Where a document lived in
    the build's work runs is blanked; everything else is kept as the build read it."""
    table = SignatureTable(table_path).table
    vertices = table.column("vertex").to_numpy()
    survivor = np.full(len(vertices), -1, np.int64)
    kept = np.ones(len(vertices), bool)
    if len(removed):
        order = np.argsort(vertices)
        pos = order[np.searchsorted(vertices[order], removed[:, 0])]
        kept[pos] = removed[:, 2] != 0  # flagged leakage copies stay in the shards
        survivor[pos] = removed[:, 1]
    n = len(vertices)
    blank = {"run": pa.array([""] * n, pa.string()), "row": pa.array(np.full(n, -1, np.int64))}
    blank |= {"kept": pa.array(kept), "survivor": pa.array(survivor)}
    for name, column in blank.items():
        table = table.set_column(table.schema.get_field_index(name), name, column)
    path = docs_path(state_dir, file_idx)
    w = AtomicWriter(path)
    with pa.ipc.new_file(w, table.schema) as writer:
        if len(table) <= STATE_BATCH_ROWS:
            writer.write_table(table.combine_chunks(), max_chunksize=max(len(table), 1))
        else:  # batches of a fixed size, whatever units the rows came from
            for start in range(0, len(table), STATE_BATCH_ROWS):
                part = table.slice(start, STATE_BATCH_ROWS).combine_chunks()
                writer.write_table(part, max_chunksize=STATE_BATCH_ROWS)
    return {"path": path, "kind": "dedup_state", "records": len(table), **w.commit()}


def save_units(state_dir: str, bucket: int, units: dict[int, tuple[int, int]]) -> list[dict]:
    """Line dedup: ``{unit key: (documents holding it, earliest timestamp key)}``."""
    if not units:
        return []
    keys = np.array(sorted(units), np.uint64)
    values = np.array([units[k] for k in keys.tolist()], np.int64).reshape(-1, 2)
    return [
        _save(_bucket_path(state_dir, "lines", bucket, "keys"), keys),
        _save(_bucket_path(state_dir, "lines", bucket, "count"), values[:, 0]),
        _save(_bucket_path(state_dir, "lines", bucket, "first"), values[:, 1]),
    ]


def prior_units(prior: PriorState, bucket: int, keys: list[int]) -> dict[int, tuple[int, int]]:
    """The earlier increments' ``(documents, earliest timestamp key)`` of the units ``keys``."""
    wanted = np.unique(np.asarray(keys, np.uint64))
    out: dict[int, tuple[int, int]] = {}
    for _, state in prior.parts:
        saved = _load(_bucket_path(state, "lines", bucket, "keys"))
        if saved is None:
            continue
        lo = np.searchsorted(saved, wanted)
        hit = lo < len(saved)
        hit[hit] = saved[lo[hit]] == wanted[hit]
        if not hit.any():
            continue
        count = _load(_bucket_path(state, "lines", bucket, "count"))[lo[hit]]
        first = _load(_bucket_path(state, "lines", bucket, "first"))[lo[hit]]
        for k, c, f in zip(wanted[hit].tolist(), count.tolist(), first.tolist(), strict=True):
            n, t = out.get(k, (0, f))
            out[k] = (n + c, min(t, f))
    return out
