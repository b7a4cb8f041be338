"""Per-input-file work: parse, normalize, filter, assign split/period, tokenize, spill sorted
runs, one unit of work at a time.

An input file is read as a chain of units (``input.unit_bytes`` of input each, cut where its
reader can start again: ``curate.readers.records.Resume``), so that a crash costs a unit, not
the file (``curate.stages.commits``). Within a unit, kept documents are buffered per (split,
period) and spilled as sorted Arrow IPC *runs* to the work directory whenever the buffer passes
``output.run_bytes``; a unit's filter rejections and quarantine entries are written as pieces,
joined into the file's ``rejected/`` and ``quarantine/`` files once its last unit is done. Only
small records leave this stage: run paths, pointers to dedup records, counts.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from apache_beam.io.filesystems import FileSystems

from curate.core.document import Document, origin_sort_key
from curate.core.fileio import AtomicWriter, join
from curate.core.timeparse import us_to_iso
from curate.decontam.stage import Decontaminate
from curate.dedup.lines import remove_units
from curate.dedup.near import near_stage
from curate.dedup.signatures import write_table_index
from curate.readers.records import Resume
from curate.stages.chain import Start, Unit
from curate.stages.config import BuildConfig
from curate.stages.parse import parse_file
from curate.stages.screen import SCREEN_BATCH, Screen
from curate.stages.spill import Spill, SpillSettings, bucket_records, run_schema
from tokenization.bpe import Encoder, load_tokenizer

RECORD_KINDS = (("quarantine", "quarantine", "part"), ("rejected", "rejected", "filtered"))


@dataclass
class FileResult:
    """A whole file's work (``FileProcessor.process``): what its units wrote, summed."""

    runs: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    # (records file, bucket, first record, count): where each bucket's exact / band records are
    exact_slices: list[tuple[str, int, int, int]] = field(default_factory=list)
    band_slices: list[tuple[str, int, int, int]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    record_files: list[dict] = field(default_factory=list)


class _RecordSink:
    """Lazily opened JSONL piece of rejected or quarantined records for one unit."""

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
        self._w.commit()
        return {"kind": self.kind, "path": self.path, "records": self.rows}


def record_path(out_dir: str, kind: str, file_idx: int) -> str:
    """The input file's rejected or quarantine file in the corpus."""
    folder, _, prefix = next(k for k in RECORD_KINDS if k[0] == kind)
    return join(out_dir, folder, f"{prefix}-{file_idx:05d}.jsonl")


def join_pieces(out_dir: str, file_idx: int, pieces: list[dict]) -> list[dict]:
    """The file's rejected and quarantine files, its units' pieces joined in order; returns
    their manifest entries."""
    out = []
    for kind, _, _ in RECORD_KINDS:
        mine = [p for p in pieces if p["kind"] == kind]
        if not mine:
            continue
        path = record_path(out_dir, kind, file_idx)
        w = AtomicWriter(path)
        for piece in mine:
            with FileSystems.open(piece["path"], compression_type="uncompressed") as f:
                while chunk := f.read(1 << 22):
                    w.write(chunk)
        info = w.commit()
        out.append({"path": path, "kind": kind, "records": sum(p["records"] for p in mine), **info})
    return out


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
        for f in self.screen.filters:
            if isinstance(f, Decontaminate):
                f.count_tokens = self.encoder.count
        near = cfg.dedup.near
        stage = near_stage(cfg.dedup)
        self.spill = SpillSettings(
            work_dir=work_dir,
            schema=run_schema(self.signals, cfg.output.keep_text, cfg.multimodal),
            signals=self.signals,
            run_bytes=cfg.output.run_bytes,
            modality=cfg.input.modality,
            buckets=cfg.dedup.buckets,
            exact=cfg.dedup.exact,
            lsh=stage.params if stage else None,
            keep_shingles=near is not None and near.verify == "true",
        )

    def units(
        self,
        file_idx: int,
        path: str,
        unit_drops: dict[str, set[int]] | None = None,
        begin: Start | None = None,
    ) -> Iterator[Unit]:
        """The file's units from ``begin`` on (the first), each yielded once written
        (``curate.stages.chain``)."""
        begin = begin or Start()
        unit = _Unit(self, file_idx, path, begin, unit_drops)
        reading = parse_file(
            self.parser, file_idx, path, self.cfg.input, begin.resume, self.cfg.input.unit_bytes
        )
        for rec in reading:
            if isinstance(rec, Resume):
                done = unit.finish(rec)
                yield done
                begin = Start(begin.index + 1, rec, begin.first_row + done.rows)
                unit = _Unit(self, file_idx, path, begin, unit_drops)
                continue
            unit.add(rec)
        yield unit.finish(None)

    def finish(self, file_idx: int, records: list[dict]) -> list:
        """Once the file's last unit is done: its rejected and quarantine files joined from
        the units' pieces, its document table's index, its dedup records by bucket
        (``chain.run_chain``'s finish)."""
        pieces = [p for r in records for p in r["pieces"]]
        out = [("records", info) for info in join_pieces(self.out_dir, file_idx, pieces)]
        if self.spill.dedup:
            parts = [r["parts"] for r in records]
            write_table_index(self.work_dir, file_idx, [p["table"] for p in parts])
            out += bucket_records(self.work_dir, file_idx, parts, self.cfg.dedup.buckets)
        return out

    def process(
        self, file_idx: int, path: str, unit_drops: dict[str, set[int]] | None = None
    ) -> FileResult:
        """The whole file at once, without commits (tests and tools): its units' results
        summed, its rejected and quarantine files joined."""
        res = FileResult()
        records, outputs = [], []
        for unit in self.units(file_idx, path, unit_drops):
            records.append({"pieces": unit.pieces, "parts": unit.parts})
            outputs += unit.outputs
        for tag, value in outputs + self.finish(file_idx, records):
            if tag == "main":
                res.runs.append(value)
            elif tag == "counts":
                res.counts.update(value)
            elif tag == "records":
                res.record_files.append(value)
            else:
                bucket, (table, first, count) = value
                slices = res.exact_slices if tag == "dedup" else res.band_slices
                slices.append((table, bucket, first, count))
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

    def _skip(self, sink, res, path, skipped) -> None:
        """A web archive's record that is not a document: removed under its reason."""
        res.counts[f"removed.{skipped.reason}"] += 1
        row = {"file": path, "position": skipped.position, "reason": skipped.reason}
        sink.add({**row, **{k: v for k, v in skipped.info.items() if v is not None}})

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
            if doc.metadata.get("decontamination"):
                _count_contamination(doc, res.counts)
            if outcome is None:
                kept.append(doc)
            else:
                self._reject(doc, path, position, outcome, rejected, res)
        return kept

    def _reject(self, doc: Document, path: str, position: int, reason: str, rejected, res):
        res.counts[f"removed.{reason}"] += 1
        row = {
            "id": doc.id,
            "file": path,
            "position": position,
            "reason": reason,
            "timestamp": us_to_iso(doc.timestamp),
            "signals": doc.signals,
            "text": doc.text,
        }
        if doc.metadata.get("decontamination"):  # the benchmark, item and n-gram matched
            row["decontamination"] = doc.metadata["decontamination"]
        if doc.metadata.get("crawl"):  # its period, with temporal.period: crawl
            row["crawl"] = doc.metadata["crawl"]
        rejected.add(row)


class _Unit:
    """One unit's work in progress: its counts, pieces, spill and the documents waiting for
    the screen or the tokenizer."""

    def __init__(self, proc: FileProcessor, file_idx: int, path: str, start: Start, drops):
        self.proc, self.file_idx, self.path, self.start = proc, file_idx, path, start
        self.drops = drops
        self.res = _Counts()
        name = f"{file_idx:05d}-{start.index:05d}"
        pieces = join(proc.work_dir, "pieces")
        self.quarantine = _RecordSink(join(pieces, f"quarantine-{name}.jsonl"), "quarantine")
        self.rejected = _RecordSink(join(pieces, f"rejected-{name}.jsonl"), "rejected")
        self.spill = Spill(proc.spill, file_idx, start.index, start.first_row)
        self.pending: list[tuple[Document, int]] = []
        self.kept: list[Document] = []

    def add(self, rec) -> None:
        proc, res, path = self.proc, self.res, self.path
        res.counts["input_records"] += 1
        res.counts["input_bytes"] += rec.nbytes
        if rec.skipped is not None:
            proc._skip(self.rejected, res, path, rec.skipped)
            return
        if rec.doc is None:
            proc._quarantine(self.quarantine, res, path, rec.position, *rec.error)
            return
        doc, origin = rec.doc, f"{self.file_idx}:{rec.position}"
        res.counts["input_chars"] += doc.orig_chars
        drop = self.drops.get(origin_sort_key(origin)) if self.drops else None
        if drop and not proc._drop_units(doc, drop, path, rec.position, self.rejected, res):
            return
        self.pending.append((doc, rec.position))
        if len(self.pending) >= SCREEN_BATCH:
            self.kept += proc._screen(self.pending, path, self.rejected, self.quarantine, res)
            self.pending = []
        size = proc.cfg.input.batch_size
        while len(self.kept) >= size:
            self.spill.add(self.kept[:size], proc._tokenize(self.kept[:size]))
            self.kept = self.kept[size:]

    def finish(self, end: Resume | None) -> Unit:
        """Screen and spill what waits, write the unit's tables and pieces."""
        proc, res, spill = self.proc, self.res, self.spill
        self.kept += proc._screen(self.pending, self.path, self.rejected, self.quarantine, res)
        size = proc.cfg.input.batch_size
        for i in range(0, len(self.kept), size):
            chunk = self.kept[i : i + size]
            spill.add(chunk, proc._tokenize(chunk))
        spill.flush()
        if proc.spill.dedup:
            spill.write_tables()
        outputs: list = [("main", run) for run in spill.runs]
        outputs.append(("counts", res.counts))
        pieces = [p for p in (s.close() for s in (self.quarantine, self.rejected)) if p]
        nbytes = res.counts["input_bytes"]
        return Unit(outputs, end, spill.added, nbytes, pieces, spill.parts)


class _Counts:
    """A unit's counts, as the per-document steps add to them."""

    def __init__(self):
        self.counts: Counter = Counter()


def _count_contamination(doc: Document, counts: Counter) -> None:
    """Per benchmark: documents with a matched item (or only weaker overlaps), each matched
    item (``decontamination_items.<benchmark>.<item>``: distinct items are counted in
    stats.json), and the tokens removed, credited to the document's first benchmark."""
    listed = doc.metadata["decontamination"]
    matched = [m for m in listed if m["matched"]]
    for bench in sorted({m["benchmark"] for m in matched}):
        counts[f"decontamination.{bench}.documents"] += 1
    for bench in sorted({m["benchmark"] for m in listed} - {m["benchmark"] for m in matched}):
        counts[f"decontamination.{bench}.documents_below_overlap"] += 1
    for m in matched:
        counts[f"decontamination_items.{m['benchmark']}.{m['item']}"] += 1
    tokens = int(doc.signals.get("decontamination.tokens_removed", 0))
    if matched and tokens:
        counts[f"decontamination.{matched[0]['benchmark']}.tokens_removed"] += tokens
