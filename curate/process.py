"""Per-input-file work: parse, normalize, filter, assign split/period, tokenize, spill sorted runs.

Runs on one worker per input file with bounded memory: kept documents are buffered per
(split, period) and spilled as sorted Arrow IPC *runs* to the work directory whenever the buffer
passes ``output.run_bytes``. Only small records leave this stage: run paths, exact-dedup keys
and counts. Filter rejections and quarantine entries are written beside the output here.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from curate.config import BuildConfig
from curate.fileio import AtomicWriter, join
from curate.lines import remove_units, unit_keys
from curate.minhash import LSHParams
from curate.parse import RecordError, RecordParser
from curate.perceptual import PerceptualParams
from curate.readers import BadRecord, read_file
from curate.schema import (
    IMAGE_PLACEHOLDER,
    Document,
    metadata_json,
    origin_sort_key,
    shard_schema,
)
from curate.signatures import (
    Location,
    band_path,
    band_records,
    exact_records,
    ref_of,
    signature_path,
    write_band_table,
    write_signature_table,
)
from curate.temporal import TemporalAssigner
from curate.timeparse import us_to_iso
from filters.registry import build_filters, signal_names
from tokenization.bpe import Encoder, load_tokenizer

LSH_FIELDS = (
    "threshold",
    "num_perm",
    "ngram",
    "seed",
    "candidate_threshold",
    "false_positive_weight",
    "false_negative_weight",
)
RUN_EXTRA = [pa.field("_ts_key", pa.int64()), pa.field("_origin", pa.string())]


RUN_BATCH_ROWS = 16
SCREEN_BATCH = 64  # documents per filter call (see Filter.apply_batch)


def run_schema(signals: list[str], keep_text: bool, images: bool = False) -> pa.Schema:
    base = shard_schema(signals, keep_text, images)
    extra = RUN_EXTRA + ([pa.field("_image_bytes", pa.int64())] if images else [])
    return pa.schema(list(base) + extra)


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


@dataclass
class FileResult:
    runs: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    exact: np.ndarray = field(default_factory=lambda: exact_records([], []))  # EXACT_RECORD
    # (band table, bucket, first record, count): where each bucket's band records are
    band_slices: list[tuple[str, int, int, int]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    record_files: list[dict] = field(default_factory=list)


class _RecordSink:
    """Lazily opened JSONL file of rejected or quarantined records for one input file."""

    def __init__(self, path: str, kind: str):
        self.path, self.kind = path, kind
        self._w: AtomicWriter | None = None
        self.rows = 0

    def add(self, row: dict) -> None:
        if self._w is None:
            self._w = AtomicWriter(self.path)
        self._w.write((json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n").encode())
        self.rows += 1

    def close(self) -> dict | None:
        if self._w is None:
            return None
        info = self._w.commit()
        return {"path": self.path, "kind": self.kind, "records": self.rows, **info}


class Screen:
    """Normalization check, the filter chain and the temporal split: the keep/remove decision."""

    def __init__(self, cfg: BuildConfig):
        self.parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
        self.filters = build_filters(cfg.filters)
        self.signals = signal_names(self.filters)
        self.totals = [f"{f.name}.{t}" for f in self.filters for t in f.totals]
        self.temporal = TemporalAssigner(cfg.temporal)
        self.interleaved = cfg.input.modality == "interleaved"

    def screen(self, docs: list[Document]) -> list[str | None]:
        """Apply every filter in order, recording its signals and decision (``<name>.keep``)
        on each document even after an earlier one rejected it, so that thresholds can be
        re-tuned from the output alone. Per document: the first rejection is the reason; None
        means keep. Documents go through one filter at a time (see ``Filter.apply_batch``)."""
        reasons: list[str | None] = [None if d.text else "normalize.empty_text" for d in docs]
        live = [i for i, r in enumerate(reasons) if r is None]
        batch = [docs[i] for i in live]
        for f in self.filters:
            if not batch:
                break
            for i, doc, d in zip(live, batch, f.apply_batch(batch), strict=True):
                for k, v in d.signals.items():
                    doc.signals[f"{f.name}.{k}"] = v
                doc.signals[f"{f.name}.keep"] = float(d.keep)
                if d.text is not None:
                    doc.text = d.text
                doc.metadata.update(d.metadata)
                if not d.keep and reasons[i] is None:
                    reasons[i] = f"{f.name}.{d.reason}"
        for i, doc in zip(live, batch, strict=True):
            lost = self.interleaved and doc.text.count(IMAGE_PLACEHOLDER) != len(doc.images)
            if reasons[i] is None and lost:
                reasons[i] = "multimodal.image_placeholder_lost"  # a filter cut an image out
            if reasons[i] is None:
                doc.split, doc.period = self.temporal.assign(doc.timestamp, doc.id)
                if doc.split is None:
                    reasons[i] = "temporal.outside_splits"
        return reasons

    def reason_to_remove(self, doc: Document) -> str | None:
        return self.screen([doc])[0]


def sample_texts(cfg: BuildConfig, files: list[str], n: int) -> list[str]:
    """The first ``n`` documents that pass the screen, in input order: the tokenizer sample."""
    screen = Screen(cfg)
    out: list[str] = []
    for file_idx, path in enumerate(files):
        for rec in read_file(path, cfg.input.format, cfg.input.max_doc_bytes):
            if isinstance(rec, BadRecord):
                continue
            try:
                doc = screen.parser.parse(rec.value, f"{file_idx}:{rec.position}", path)
            except RecordError:
                continue
            if screen.reason_to_remove(doc) is None:
                out.append(doc.text.replace(IMAGE_PLACEHOLDER, "\n"))
                if len(out) >= n:
                    return out
    return out


def scan_units(cfg: BuildConfig, file_idx: int, path: str) -> Iterator[tuple[int, tuple]]:
    """(unit key, document node) for line dedup: a first, light pass over one input file."""
    parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
    for rec in read_file(path, cfg.input.format, cfg.input.max_doc_bytes):
        if isinstance(rec, BadRecord):
            continue
        try:
            doc = parser.parse(rec.value, f"{file_idx}:{rec.position}", path)
        except RecordError:
            continue  # the main pass quarantines it
        node = doc.sort_key()
        for key in unit_keys(doc.text, cfg.dedup.lines):
            yield key, node


class FileProcessor:
    """Holds the parsed config, the screen and the tokenizer; built once per worker."""

    def __init__(self, cfg: BuildConfig, tokenizer_json: str, work_dir: str, out_dir: str):
        self.cfg = cfg
        self.work_dir = work_dir
        self.out_dir = out_dir
        self.screen = Screen(cfg)
        self.parser = self.screen.parser
        self.signals = self.screen.signals
        self.encoder = Encoder(
            load_tokenizer(tokenizer_json, from_string=True),
            cfg.tokenizer.eos_token,
            fast=cfg.tokenizer.fast,
            image_token=cfg.tokenizer.image_token if cfg.multimodal else None,
        )
        self.schema = run_schema(self.signals, cfg.output.keep_text, cfg.multimodal)
        near, perceptual = cfg.dedup.near, cfg.dedup.perceptual
        self.lsh = LSHParams(**near.model_dump(include=set(LSH_FIELDS))) if near else None
        if perceptual is not None:
            self.lsh = PerceptualParams(perceptual.max_distance)
        self.keep_shingles = near is not None and near.verify == "true"
        self.dedup = cfg.dedup.exact or self.lsh is not None  # documents need a table

    def process(
        self, file_idx: int, path: str, unit_drops: dict[str, set[int]] | None = None
    ) -> FileResult:
        out_dir = self.out_dir
        res = FileResult()
        quarantine = _RecordSink(
            join(out_dir, "quarantine", f"part-{file_idx:05d}.jsonl"), "quarantine"
        )
        rejected = _RecordSink(
            join(out_dir, "rejected", f"filtered-{file_idx:05d}.jsonl"), "rejected"
        )
        spill = _Spill(self, file_idx, res)
        pending: list[tuple[Document, int]] = []
        kept: list[Document] = []
        size = self.cfg.input.batch_size
        for rec in read_file(path, self.cfg.input.format, self.cfg.input.max_doc_bytes):
            res.counts["input_records"] += 1
            origin = f"{file_idx}:{rec.position}"
            if isinstance(rec, BadRecord):
                self._quarantine(quarantine, res, path, rec.position, rec.kind, rec.error, rec.raw)
                continue
            res.counts["input_bytes"] += rec.nbytes
            try:
                doc = self.parser.parse(rec.value, origin, path)
            except RecordError as e:
                raw = json.dumps(rec.value, ensure_ascii=False, default=_raw_value)[:500]
                self._quarantine(quarantine, res, path, rec.position, e.kind, str(e), raw)
                continue
            res.counts["input_chars"] += doc.orig_chars
            drop = unit_drops.get(origin_sort_key(origin)) if unit_drops else None
            if drop and not self._drop_units(doc, drop, path, rec.position, rejected, res):
                continue
            pending.append((doc, rec.position))
            if len(pending) >= SCREEN_BATCH:
                kept += self._screen(pending, path, rejected, quarantine, res)
                pending = []
            while len(kept) >= size:
                spill.add(kept[:size], self._tokenize(kept[:size]))
                kept = kept[size:]
        kept += self._screen(pending, path, rejected, quarantine, res)
        for i in range(0, len(kept), size):
            chunk = kept[i : i + size]
            spill.add(chunk, self._tokenize(chunk))
        spill.flush()
        if self.dedup:
            spill.write_tables(file_idx)
        for sink in (quarantine, rejected):
            info = sink.close()
            if info:
                res.record_files.append(info)
        return res

    def _tokenize(self, docs: list[Document]) -> list[np.ndarray]:
        if not self.cfg.multimodal:
            return self.encoder.encode_batch([d.text for d in docs])
        ids, positions = self.encoder.encode_multimodal(
            [d.text for d in docs], [len(d.images) for d in docs]
        )
        for doc, pos in zip(docs, positions, strict=True):
            for image, p in zip(doc.images, pos, strict=True):
                image.token_pos = p
        return ids

    def _quarantine(self, sink, res, path, position, kind, error, raw) -> None:
        res.counts[f"quarantined.{kind}"] += 1
        sink.add({"file": path, "position": position, "kind": kind, "error": error, "raw": raw})

    def _drop_units(self, doc: Document, drop: set[int], path, position, rejected, res) -> bool:
        """Line dedup: remove the units kept in an earlier document; False if none are left."""
        before = len(doc.text)
        doc.text, n = remove_units(doc.text, drop, self.cfg.dedup.lines)
        res.counts["line_dedup.units_removed"] += n
        res.counts["line_dedup.chars_removed"] += before - len(doc.text)
        res.counts["line_dedup.documents_changed"] += 1
        if doc.text.strip():
            return True
        self._reject(doc, path, position, "line_dedup.nothing_left", rejected, res)
        return False

    def _screen(self, items: list[tuple[Document, int]], path, rejected, quarantine, res):
        """The documents the screen keeps; the others go to rejected/, or to quarantine when a
        filter raised on them (a dead letter: one bad document, not the build)."""
        docs = [doc for doc, _ in items]
        saved = [(d.text, dict(d.signals), dict(d.metadata)) for d in docs]
        try:
            outcomes: list = self.screen.screen(docs)
        except Exception:  # noqa: BLE001 - again one document at a time, to find the bad one
            outcomes = []
            for doc, (text, signals, metadata) in zip(docs, saved, strict=True):
                doc.text, doc.signals, doc.metadata = text, signals, metadata
                try:
                    outcomes.append(self.screen.reason_to_remove(doc))
                except Exception as e:  # noqa: BLE001
                    outcomes.append(e)
        kept = []
        for (doc, position), outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, Exception):
                error = f"{type(outcome).__name__}: {outcome}"
                self._quarantine(quarantine, res, path, position, "processing_error", error, None)
                continue
            for key in self.screen.totals:
                res.counts[f"filter_totals.{key}"] += int(doc.signals.get(key, 0))
            if outcome is None:
                kept.append(doc)
            else:
                self._reject(doc, path, position, outcome, rejected, res)
        return kept

    def _reject(self, doc: Document, path: str, position: int, reason: str, rejected, res):
        res.counts[f"removed.{reason}"] += 1
        rejected.add(
            {
                "id": doc.id,
                "file": path,
                "position": position,
                "reason": reason,
                "timestamp": us_to_iso(doc.timestamp),
                "signals": doc.signals,
                "text": doc.text,
            }
        )


class _Spill:
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
        the band table, whose slices go into the result."""
        proc, lsh = self.proc, self.proc.lsh
        path = signature_path(proc.work_dir, file_idx)
        if lsh is None:
            write_signature_table(path, self.locations)
        else:
            shingles = self.shingles if proc.keep_shingles else None
            write_signature_table(path, self.locations, self.sigs, shingles, lsh.num_perm, lsh.kind)
        if proc.cfg.dedup.exact:
            locs = self.locations
            self.res.exact = exact_records([loc.key for loc in locs], [loc.vertex for loc in locs])
        if self.bands:
            path = band_path(proc.work_dir, file_idx)
            records = np.concatenate(self.bands)
            slices = write_band_table(path, records, proc.cfg.dedup.buckets)
            self.res.band_slices = [(path, *s) for s in slices]


def _raw_value(v) -> str:
    """How a quarantine entry shows a value JSON cannot: bytes (an image) by their size."""
    return f"<{len(v)} bytes>" if isinstance(v, bytes | bytearray) else str(v)


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
