"""Kept documents spilled per (split, period) as sorted Arrow runs in the work directory, with
the per-file document and signature tables dedup reads later, keyed by ``document_key``."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from curate.core.document import Document, metadata_json, origin_sort_key
from curate.core.fileio import AtomicWriter, join
from curate.dedup.signatures import (
    Location,
    band_buckets,
    band_path,
    band_records,
    exact_buckets,
    exact_path,
    exact_records,
    ref_of,
    signature_path,
    write_bucketed,
    write_signature_table,
)
from curate.format.schema import shard_schema

if TYPE_CHECKING:
    from curate.build.process import FileProcessor, FileResult

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


class Spill:
    """Buffers tokenized documents per (split, period) and writes sorted runs."""

    def __init__(self, proc: FileProcessor, file_idx: int, res: FileResult):
        self.proc, self.file_idx, self.res = proc, file_idx, res
        self.buf: dict[tuple[str, str], list] = defaultdict(list)
        self.nbytes = 0
        self.chunk = 0
        self.sigs: list = []
        self.shingles: list = []
        self.locations: list = []
        self.bands: list = []

    def add(self, docs: list[Document], ids: list) -> None:
        for doc, tok in zip(docs, ids, strict=True):
            self.buf[(doc.split, doc.period)].append((doc, tok))
            self.nbytes += len(doc.text) + tok.nbytes + sum(len(im.data) for im in doc.images)
        if self.nbytes >= self.proc.cfg.output.run_bytes:
            self.flush()

    def flush(self) -> None:
        for part in sorted(self.buf):
            self._write_run(part, self.buf[part])
        self.buf.clear()
        self.nbytes = 0
        self.chunk += 1

    def _write_run(self, part: tuple[str, str], items: list) -> None:
        proc = self.proc
        items.sort(key=lambda it: it[0].sort_key())
        split, period = part
        name = f"{self.file_idx:05d}-{self.chunk:04d}.arrow"
        path = join(proc.work_dir, "runs", f"split={split}", f"period={period}", name)
        table = rows_to_table(
            [d for d, _ in items], [t for _, t in items], proc.schema, proc.signals
        )
        w = AtomicWriter(path)
        with pa.ipc.new_stream(w, proc.schema) as writer:
            # small batches: the merge holds one batch per run, and runs multiply with input
            # files (at 64 rows, 43 MB per worker for 67 runs); shard batches are cut apart
            writer.write_table(table, max_chunksize=RUN_BATCH_ROWS)
        w.commit()
        self.res.runs.append((part, path))
        if not proc.dedup:
            return
        lsh = proc.lsh
        if lsh is not None:
            sigs, shingles = lsh.sign_documents([d for d, _ in items])
        for row, (doc, _) in enumerate(items):
            if lsh is not None:
                ref = ref_of(self.file_idx, len(self.locations))
                self.bands.append(band_records(lsh.band_keys(sigs[row]), ref))
                self.sigs.append(sigs[row])
                if proc.keep_shingles:
                    self.shingles.append(shingles[row])
            doc_key = document_key(doc, proc.cfg.input.modality)
            self.locations.append(Location(doc.sort_key(), part, path, row, doc_key))

    def write_tables(self, file_idx: int) -> None:
        """The document table (with signatures for near-dedup), the exact-dedup records and
        the band records, whose slices go into the result."""
        proc, lsh = self.proc, self.proc.lsh
        path = signature_path(proc.work_dir, file_idx)
        if lsh is None:
            write_signature_table(path, self.locations)
        else:
            shingles = self.shingles if proc.keep_shingles else None
            write_signature_table(path, self.locations, self.sigs, shingles, lsh.num_perm, lsh.kind)
        buckets = proc.cfg.dedup.buckets
        if proc.cfg.dedup.exact and self.locations:
            locs = self.locations
            records = exact_records([loc.key for loc in locs], [loc.vertex for loc in locs])
            path = exact_path(proc.work_dir, file_idx)
            slices = write_bucketed(path, records, exact_buckets(records, buckets))
            self.res.exact_slices = [(path, *s) for s in slices]
        if self.bands:
            path = band_path(proc.work_dir, file_idx)
            records = np.concatenate(self.bands)
            slices = write_bucketed(path, records, band_buckets(records, buckets))
            self.res.band_slices = [(path, *s) for s in slices]


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
