"""Kept documents spilled per (split, period) as sorted Arrow runs in the work directory, with
the per-file document and signature tables dedup reads later, keyed by ``document_key``."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems

from curate.core.document import Document, metadata_json, origin_sort_key
from curate.core.fileio import AtomicWriter, join, write_bytes
from curate.dedup.signatures import (
    BAND_RECORD,
    EXACT_RECORD,
    Location,
    band_buckets,
    band_path,
    band_records,
    exact_buckets,
    exact_path,
    exact_records,
    ref_of,
    unit_table_path,
    write_bucketed,
    write_signature_table,
)
from curate.format.schema import shard_schema

RUN_EXTRA = [pa.field("_ts_key", pa.int64()), pa.field("_origin", pa.string())]


def dedup_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def document_key(doc: Document, modality: str) -> bytes:
    """Exact-duplicate key: the text; an image-text pair's image pixels (the same picture
    under another caption is a copy); an interleaved document's text and images."""
    if modality == "text":
        return dedup_key(doc.text)
    h = hashlib.blake2b(digest_size=16)
    if modality == "interleaved":
        h.update(doc.text.encode("utf-8"))
    for image in doc.images:
        h.update(image.pixel_hash)
    return h.digest()


RUN_BATCH_ROWS = 16


def run_schema(signals: list[str], keep_text: bool, images: bool = False) -> pa.Schema:
    base = shard_schema(signals, keep_text, images)
    extra = RUN_EXTRA + ([pa.field("_image_bytes", pa.int64())] if images else [])
    return pa.schema(list(base) + extra)


@dataclass(frozen=True)
class SpillSettings:
    """What a spill needs to know of the build, decided once per worker."""

    work_dir: str
    schema: pa.Schema  # run_schema(signals, ...)
    signals: list[str]
    run_bytes: int
    modality: str
    buckets: int
    exact: bool  # exact dedup: each document's key
    lsh: Any = None  # near-dedup's NearDuplicates, or None
    keep_shingles: bool = False  # for exact verification of candidate pairs

    @property
    def dedup(self) -> bool:
        """Whether documents need a table (exact or near dedup)."""
        return self.exact or self.lsh is not None


class Spill:
    """Buffers one unit's tokenized documents per (split, period) and writes sorted runs;
    after ``write_tables``, ``runs`` and ``parts`` (its document table, exact and band records)
    say what it wrote.
    A document's row in the file's document table is its place among the file's documents
    in input order (``first_row``: the file's documents in its earlier units): neither where
    runs were cut nor where units were cut changes a table."""

    def __init__(self, settings: SpillSettings, file_idx: int, unit: int = 0, first_row: int = 0):
        self.settings, self.file_idx = settings, file_idx
        self.unit, self.first_row = unit, first_row
        self.table_path = unit_table_path(settings.work_dir, file_idx, unit)
        self.buf: dict[tuple[str, str], list] = defaultdict(list)
        self.nbytes = 0
        self.chunk = 0
        self.added = 0  # documents added, in input order
        self.sigs: dict[int, np.ndarray] = {}  # by row in the unit
        self.shingles: dict[int, np.ndarray] = {}
        self.locations: dict[int, Location] = {}
        self.bands: list = []
        self.runs: list[tuple[tuple[str, str], str]] = []
        self.parts: dict[str, str] = {}  # table / exact / bands: the unit's files

    def add(self, docs: list[Document], ids: list) -> None:
        for doc, tok in zip(docs, ids, strict=True):
            self.buf[(doc.split, doc.period)].append((doc, tok, self.added))
            self.added += 1
            self.nbytes += len(doc.text) + tok.nbytes + sum(len(im.data) for im in doc.images)
        if self.nbytes >= self.settings.run_bytes:
            self.flush()

    def flush(self) -> None:
        for part in sorted(self.buf):
            self._write_run(part, self.buf[part])
        self.buf.clear()
        self.nbytes = 0
        self.chunk += 1

    def _write_run(self, part: tuple[str, str], items: list) -> None:
        st = self.settings
        items.sort(key=lambda it: it[0].sort_key())
        split, period = part
        name = f"{self.file_idx:05d}-{self.unit:05d}-{self.chunk:04d}.arrow"
        path = join(st.work_dir, "runs", f"split={split}", f"period={period}", name)
        table = rows_to_table(
            [it[0] for it in items], [it[1] for it in items], st.schema, st.signals
        )
        w = AtomicWriter(path)
        with pa.ipc.new_stream(w, st.schema) as writer:
            # small batches: the merge holds one batch per run, and runs multiply with input
            # files (at 64 rows, 43 MB per worker for 67 runs); shard batches are cut apart
            writer.write_table(table, max_chunksize=RUN_BATCH_ROWS)
        w.commit()
        self.runs.append((part, path))
        if not st.dedup:
            return
        lsh = st.lsh
        if lsh is not None:
            sigs, shingles = lsh.sign_documents([it[0] for it in items])
        for row, (doc, _, seq) in enumerate(items):
            if lsh is not None:
                ref = ref_of(self.file_idx, self.first_row + seq)
                self.bands.append(band_records(lsh.band_keys(sigs[row]), ref))
                self.sigs[seq] = sigs[row]
                if st.keep_shingles:
                    self.shingles[seq] = shingles[row]
            doc_key = document_key(doc, st.modality)
            self.locations[seq] = Location(doc.sort_key(), part, path, row, doc_key)

    def write_tables(self) -> None:
        """The unit's document table (with signatures for near-dedup), and its exact-dedup
        and band records in input order (``bucket_records`` sorts a file's into buckets once
        its last unit is done)."""
        st, lsh, file_idx = self.settings, self.settings.lsh, self.file_idx
        name = f"{file_idx:05d}-{self.unit:05d}"
        locs = [self.locations[i] for i in range(self.added)]
        if lsh is None:
            write_signature_table(self.table_path, locs)
        else:
            sigs = [self.sigs[i] for i in range(self.added)]
            shingles = [self.shingles[i] for i in range(self.added)] if st.keep_shingles else None
            write_signature_table(self.table_path, locs, sigs, shingles, lsh.num_perm, lsh.kind)
        self.parts["table"] = self.table_path
        if st.exact and locs:
            records = exact_records([loc.key for loc in locs], [loc.vertex for loc in locs])
            self.parts["exact"] = exact_path(st.work_dir, name)
            write_bytes(self.parts["exact"], records.tobytes())
        if self.bands:
            records = np.concatenate(self.bands)
            records = records[np.argsort(records["ref"], kind="stable")]  # input order
            self.parts["bands"] = band_path(st.work_dir, name)
            write_bytes(self.parts["bands"], records.tobytes())


def bucket_records(
    work_dir: str, file_idx: int, parts: list[dict[str, str]], buckets: int
) -> list[tuple[str, tuple]]:
    """A file's exact and band records, its units' in order, as one file per kind sorted by
    bucket: ``("dedup" | "bands", (bucket, (path, first record, count)))`` pointers, one per
    bucket and file whatever the number of units (on the single-machine runner a shuffle
    lives in the driver's memory)."""
    out: list[tuple[str, tuple]] = []
    name = f"{file_idx:05d}"
    kinds = (
        ("dedup", "exact", EXACT_RECORD, exact_path, exact_buckets),
        ("bands", "bands", BAND_RECORD, band_path, band_buckets),
    )
    for tag, kind, dtype, where, bucket_of in kinds:
        pieces = [_read_all(p[kind], dtype) for p in parts if p.get(kind)]
        if not pieces:
            continue
        records = np.concatenate(pieces)
        path = where(work_dir, name)
        for bucket, start, count in write_bucketed(path, records, bucket_of(records, buckets)):
            out.append((tag, (bucket, (path, start, count))))
    return out


def _read_all(path: str, dtype: np.dtype) -> np.ndarray:
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return np.frombuffer(f.read(), dtype)


def _image_row(im) -> dict:
    return {
        "bytes": im.data,
        "format": im.format,
        "width": im.width,
        "height": im.height,
        "pixel_hash": im.pixel_hash,
        "phash": im.phash,
        "token_pos": im.token_pos,
    }


def rows_to_table(
    docs: list[Document], ids: list, schema: pa.Schema, signals: list[str]
) -> pa.Table:
    offsets = [0]
    for t in ids:
        offsets.append(offsets[-1] + len(t))

    flat = np.concatenate(ids) if ids else np.empty(0, dtype=np.uint32)
    cols = {
        "doc_id": pa.array([d.id for d in docs], pa.string()),
        "timestamp": pa.array([d.timestamp for d in docs], pa.int64()).cast(
            pa.timestamp("us", tz="UTC")
        ),
        "source": pa.array([d.source for d in docs], pa.string()),
        "url": pa.array([d.url for d in docs], pa.string()),
        "input_ids": pa.ListArray.from_arrays(
            pa.array(offsets, pa.int32()), pa.array(flat, pa.uint32())
        ),
        "n_tokens": pa.array([len(t) for t in ids], pa.uint32()),
        "orig_chars": pa.array([d.orig_chars for d in docs], pa.uint32()),
        "metadata": pa.array([metadata_json(d.metadata) for d in docs], pa.string()),
        "_ts_key": pa.array([d.sort_key()[0] for d in docs], pa.int64()),
        "_origin": pa.array([origin_sort_key(d.origin) for d in docs], pa.string()),
    }
    if "text" in schema.names:
        cols["text"] = pa.array([d.text for d in docs], pa.large_string())
    if "images" in schema.names:
        cols["images"] = pa.array(
            [[_image_row(im) for im in d.images] for d in docs], schema.field("images").type
        )
        cols["_image_bytes"] = pa.array([sum(len(im.data) for im in d.images) for d in docs])
    if signals:
        cols["signals"] = pa.StructArray.from_arrays(
            [pa.array([d.signals.get(s) for d in docs], pa.float64()) for s in signals],
            fields=list(schema.field("signals").type),
        )
    return pa.table([cols[n] for n in schema.names], schema=schema)
