"""The keep/remove decision on a document, the same in every pass over the inputs: the
normalization check, the configured filters, decontamination on the text they would keep, and
the temporal split (``Screen``); the tokenizer's sample (``sample_texts``) and line dedup's
first pass (``scan_units``) read the inputs through it too."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from curate.core.document import IMAGE_PLACEHOLDER, Document
from curate.core.errors import BuildError
from curate.decontam.stage import Decontaminate, decontamination_signals
from curate.dedup.lines import read_units, unit_keys, unit_path, write_unit_table
from curate.readers.records import Resume
from curate.stages.chain import Start, Unit
from curate.stages.config import BuildConfig
from curate.stages.parse import RecordParser, parse_file
from curate.temporal.rules import TemporalAssigner
from filters.base import Filter
from filters.registry import build_filters, signal_names

SCREEN_BATCH = 64  # documents per filter call (see Filter.apply_batch)


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


def scan_units(
    cfg: BuildConfig, work_dir: str, file_idx: int, path: str, begin: Start | None = None
) -> Iterator[Unit]:
    """Line dedup's first, light pass over one input file, a unit at a time: each unit's
    (unit key, document) records written to the work directory (``scan_finish`` sorts the
    file's by bucket once its last unit is done; the main pass quarantines what cannot be
    parsed)."""
    begin = begin or Start()
    parser = RecordParser(cfg.input, cfg.temporal, cfg.images)
    found: list[tuple[int, tuple]] = []
    nbytes = 0

    def unit(end: Resume | None) -> Unit:
        table = unit_path(work_dir, f"{file_idx:05d}-{begin.index:05d}")
        parts = {"units": table} if write_unit_table(table, found, 1) else {}
        return Unit([], end, input_bytes=nbytes, parts=parts)

    reading = parse_file(parser, file_idx, path, cfg.input, begin.resume, cfg.input.unit_bytes)
    for rec in reading:
        if isinstance(rec, Resume):
            yield unit(rec)
            begin, found, nbytes = Start(begin.index + 1, rec), [], 0
            continue
        nbytes += rec.nbytes
        if rec.doc is not None:
            node = rec.doc.sort_key()
            found += [(key, node) for key in unit_keys(rec.doc.text, cfg.dedup.lines)]
    yield unit(None)


def scan_finish(cfg: BuildConfig, work_dir: str, file_idx: int, records: list[dict]) -> list:
    """A file's (unit key, document) records, its units' in order, in one table with a record
    batch per bucket: ``(bucket, (table, batch))`` pointers, one per bucket and file."""
    items = [it for r in records if r["parts"] for it in read_units(r["parts"]["units"], 0)]
    table = unit_path(work_dir, f"{file_idx:05d}")
    pointers = write_unit_table(table, items, cfg.dedup.buckets)
    return [("main", (bucket, (table, batch))) for bucket, batch in pointers]
