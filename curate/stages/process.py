"""Per-input-file work: parse, normalize, filter, assign split/period, tokenize, spill sorted runs.

Runs on one worker per input file with bounded memory: kept documents are buffered per
(split, period) and spilled as sorted Arrow IPC *runs* to the work directory whenever the buffer
passes ``output.run_bytes``. Only small records leave this stage: run paths, exact-dedup keys
and counts. Filter rejections and quarantine entries are written beside the output here.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from curate.core.document import Document, origin_sort_key
from curate.core.fileio import AtomicWriter, join
from curate.core.timeparse import us_to_iso
from curate.decontam.stage import Decontaminate
from curate.dedup.lines import remove_units
from curate.dedup.near import near_stage
from curate.stages.config import BuildConfig
from curate.stages.parse import parse_file
from curate.stages.screen import SCREEN_BATCH, Screen
from curate.stages.spill import Spill, SpillSettings, run_schema
from tokenization.bpe import Encoder, load_tokenizer


@dataclass
class FileResult:
    runs: list[tuple[tuple[str, str], str]] = field(default_factory=list)
    # (records file, bucket, first record, count): where each bucket's exact / band records are
    exact_slices: list[tuple[str, int, int, int]] = field(default_factory=list)
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
        spill = Spill(self.spill, file_idx)
        pending: list[tuple[Document, int]] = []
        kept: list[Document] = []
        size = self.cfg.input.batch_size
        for rec in parse_file(self.parser, file_idx, path, self.cfg.input):
            res.counts["input_records"] += 1
            res.counts["input_bytes"] += rec.nbytes
            if rec.skipped is not None:
                self._skip(rejected, res, path, rec.skipped)
                continue
            if rec.doc is None:
                self._quarantine(quarantine, res, path, rec.position, *rec.error)
                continue
            doc, origin = rec.doc, f"{file_idx}:{rec.position}"
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
        if self.spill.dedup:
            spill.write_tables()
        res.runs, res.exact_slices, res.band_slices = (
            spill.runs,
            spill.exact_slices,
            spill.band_slices,
        )
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
