"""Per-input-file work: parse, normalize, filter, assign split/period, tokenize, spill sorted runs.

Runs on one worker per input file with bounded memory: kept documents are buffered per
(split, period) and spilled as sorted Arrow IPC *runs* to the work directory whenever the buffer
passes ``output.run_bytes``. Only small records leave this stage: run paths, exact-dedup keys
and counts. Filter rejections and quarantine entries are written beside the output here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from curate.build.config import BuildConfig
from curate.build.parse import RecordParser, parse_file
from curate.build.runs import Spill, run_schema
from curate.build.temporal import TemporalAssigner
from curate.core.document import IMAGE_PLACEHOLDER, Document, origin_sort_key
from curate.core.errors import BuildError
from curate.core.fileio import AtomicWriter, join
from curate.core.timeparse import us_to_iso
from curate.decontam.stage import Decontaminate, decontamination_signals
from curate.dedup.lines import remove_units, unit_keys
from curate.dedup.near import near_stage
from filters.base import Filter
from filters.registry import build_filters, signal_names
from tokenization.bpe import Encoder, load_tokenizer

SCREEN_BATCH = 64  # documents per filter call (see Filter.apply_batch)


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


def screen_filters(cfg: BuildConfig) -> list[Filter]:
    """The configured filters, then decontamination (on the text the filters would keep)."""
    chain = build_filters(cfg.filters)
    if cfg.decontamination is not None:
        chain.append(Decontaminate.from_config(cfg.decontamination))
    return chain


def screen_signals(cfg: BuildConfig) -> list[str]:
    """``signal_names(screen_filters(cfg))`` without building the decontamination index."""
    return signal_names(build_filters(cfg.filters)) + decontamination_signals(cfg.decontamination)


class Screen:
    """Normalization check, the filter chain and the temporal split: the keep/remove decision."""

    def __init__(self, cfg: BuildConfig):
        self.parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
        self.filters = screen_filters(cfg)
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
                crawl = doc.metadata.get("crawl")
                crawl = crawl if isinstance(crawl, str) else None
                doc.split, doc.period = self.temporal.assign(doc.timestamp, doc.id, crawl)
                if doc.split is None:
                    reasons[i] = "temporal.outside_splits"
        return reasons

    def reason_to_remove(self, doc: Document) -> str | None:
        return self.screen([doc])[0]


def sample_texts(cfg: BuildConfig, files: list[str], n: int) -> list[str]:
    """The first ``n`` documents that pass the screen, in input order: the tokenizer sample.
    A BuildError when none does, saying what became of the records instead."""
    screen = Screen(cfg)
    out: list[str] = []
    outcomes: Counter = Counter()  # why the records read were not taken
    for file_idx, path in enumerate(files):
        for rec in parse_file(screen.parser, file_idx, path, cfg.input):
            if rec.doc is None:
                outcomes[f"quarantined.{rec.error[0]}" if rec.error else rec.skipped.reason] += 1
                continue
            why = screen.reason_to_remove(rec.doc)
            if why is not None:
                outcomes[f"removed.{why}"] += 1
                continue
            out.append(rec.doc.text.replace(IMAGE_PLACEHOLDER, "\n"))
            if len(out) >= n:
                return out
    if not out:
        top = ", ".join(f"{k} {v:,}" for k, v in outcomes.most_common(5))
        raise BuildError(
            f"no document passed the filters, nothing to train the tokenizer on: of "
            f"{outcomes.total():,} records, {top or 'none'}" + (" ..." if len(outcomes) > 5 else "")
        )
    return out


def scan_units(cfg: BuildConfig, file_idx: int, path: str) -> Iterator[tuple[int, tuple]]:
    """(unit key, document node) for line dedup: a first, light pass over one input file (the
    main pass quarantines what cannot be parsed)."""
    parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
    for rec in parse_file(parser, file_idx, path, cfg.input):
        if rec.doc is not None:
            node = rec.doc.sort_key()
            for key in unit_keys(rec.doc.text, cfg.dedup.lines):
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
        for f in self.screen.filters:
            if isinstance(f, Decontaminate):
                f.count_tokens = self.encoder.count
        near = cfg.dedup.near
        stage = near_stage(cfg.dedup)
        self.lsh = stage.params if stage else None
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
        spill = Spill(self, file_idx, res)
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
