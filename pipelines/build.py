"""The corpus build as Beam PTransforms.

Runner-agnostic: every DoFn is picklable and builds its heavy state (filters, tokenizer) in
``setup()``; all intermediate data goes through FileSystems under the work directory; only
small records (run paths, dedup keys, counts, shard entries) pass through shuffles.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from curate.core.fileio import join
from curate.core.memory import release_unused
from curate.dedup.drops import read_drops, read_removed
from curate.dedup.lines import (
    read_unit_drops,
    read_units,
    repeated_units,
    unit_drops_path,
    write_unit_drops,
)
from curate.dedup.near import near_stage
from curate.dedup.signatures import signature_path
from curate.dedup.state import STATE_DIR, prior_units, save_docs, save_units
from curate.format.reports import build_manifest, write_reports
from curate.format.schema import shard_schema
from curate.format.stats import build_stats
from curate.stages.chain import run_chain
from curate.stages.commits import Commits, digest
from curate.stages.markers import mark_file_done, mark_partition_done, mark_unit_done
from curate.stages.process import FileProcessor
from curate.stages.screen import scan_finish, scan_units, screen_signals
from curate.stages.shards import merge_partition
from pipelines.dedup import Deduplicate
from pipelines.plan import BuildPlan


def emit(outputs):
    """A stage's ``(tag, element)`` pairs as Beam outputs (``main``: the main output)."""
    for tag, value in outputs:
        yield value if tag == "main" else pvalue.TaggedOutput(tag, value)


def drops_digest(drops: dict[str, set[int]] | None) -> str:
    """What line dedup removes from a file decides its units' bytes: part of their
    fingerprint."""
    if not drops:
        return ""
    return digest(sorted((origin, sorted(keys)) for origin, keys in drops.items()))


class _ProcessFiles(beam.DoFn):
    """The main pass over one input file, unit by unit (``curate.stages.chain``): what was
    committed before is taken as it was, the rest is read, filtered, tokenized and spilled."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        plan = self.plan
        self.proc = FileProcessor(plan.cfg, plan.tokenizer_json, plan.work_dir, plan.out_dir)
        self.commits = Commits(plan.work_dir)
        self.docs_in = Metrics.counter("curate", "input_records")

    def process(self, item):
        file_idx, path, unit_drops = item
        if unit_drops is not None:
            unit_drops = read_unit_drops(unit_drops)
        plan, proc = self.plan, self.proc
        outputs = run_chain(
            self.commits,
            "process",
            file_idx,
            plan.file_key(file_idx, drops_digest(unit_drops)),
            lambda start: proc.units(file_idx, path, unit_drops, start),
            lambda records: proc.finish(file_idx, records),
            lambda unit, done, saved: mark_unit_done(plan.work_dir, file_idx, unit, done, saved),
        )
        records = sum(c["input_records"] for tag, c in outputs if tag == "counts")
        self.docs_in.inc(records)
        mark_file_done(plan.work_dir, file_idx, records)
        yield from emit(outputs)
        release_unused()  # a bundle can hold many files: trim after each


class _ScanUnits(beam.DoFn):
    """Line dedup's first pass over one file, unit by unit: its (unit key, document) records,
    written to the work directory by bucket; (bucket, (table, batch)) pointers leave."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        file_idx, path = item
        plan = self.plan
        outputs = run_chain(
            self.commits,
            "scan",
            file_idx,
            plan.file_key(file_idx),
            lambda start: scan_units(plan.cfg, plan.work_dir, file_idx, path, start),
            lambda records: scan_finish(plan.cfg, plan.work_dir, file_idx, records),
        )
        yield from emit(outputs)


class _RepeatedUnits(beam.DoFn):
    """One bucket's unit records, read from every file's table, to removals written to the
    work directory: (input file, (table, batch)) pointers leave. The bucket's unit counts are
    saved as the corpus's dedup state; an append reads the earlier increments'."""

    def __init__(self, plan: BuildPlan, min_docs: int):
        self.plan, self.min_docs = plan, min_docs

    def setup(self):
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        bucket, pointers = item
        pointers = sorted(pointers)
        key = f"lines/{bucket:05d}"
        compute = lambda: self._repeated(bucket, pointers)  # noqa: E731
        yield from self.commits.cached(key, self.plan.task_key(key, pointers), compute)

    def _repeated(self, bucket, pointers):
        plan = self.plan
        units = list(chain.from_iterable(read_units(*p) for p in pointers))
        prior = None
        if plan.prior is not None:
            prior = prior_units(plan.prior, bucket, [k for k, _ in units])
        found = repeated_units(units, self.min_docs, prior)
        for info in save_units(join(plan.out_dir, STATE_DIR), bucket, found.units):
            yield pvalue.TaggedOutput("state", info)
        yield pvalue.TaggedOutput("counts", found.counts)
        yield from write_unit_drops(unit_drops_path(plan.work_dir, bucket), found.removals)


class _UnitDrops(beam.PTransform):
    """Input files to (file index, path, [pointers to unit removals]) for the main pass; with
    the line-dedup state files and counts as ``state`` and ``counts`` (None without it)."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, files):
        cfg = self.plan.cfg.dedup.lines
        if cfg is None:
            none = files | "NoUnitDrops" >> beam.MapTuple(lambda i, path: (i, path, None))
            return {"files": none, "state": None, "counts": None}
        found = (
            files
            | "SpreadScan" >> beam.Reshuffle()
            | "ScanUnits" >> beam.ParDo(_ScanUnits(self.plan))
            | "GroupUnits" >> beam.GroupByKey()
            | "RepeatedUnits"
            >> beam.ParDo(_RepeatedUnits(self.plan, cfg.min_docs)).with_outputs(
                "state", "counts", main="drops"
            )
        )
        joined = (
            {"path": files, "drops": found.drops}
            | "JoinUnitDrops" >> beam.CoGroupByKey()
            | "ByOrigin" >> beam.MapTuple(_with_drops)
        )
        return {"files": joined, "state": found.state, "counts": found.counts}


def _with_drops(file_idx, grouped):
    return file_idx, grouped["path"][0], sorted(grouped["drops"])


class _WritePartition(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        cfg = self.plan.cfg
        self.cfg = cfg
        self.schema = shard_schema(screen_signals(cfg), cfg.output.keep_text, cfg.multimodal)
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        (split, period), grouped = item
        runs, pointers = sorted(grouped["runs"]), sorted(grouped["drops"])
        key = f"shards/{split}-{period}"
        fingerprint = self.plan.task_key(key, [runs, pointers])
        entries = self.commits.cached(
            key, fingerprint, lambda: self._write(split, period, runs, pointers)
        )
        yield from entries
        mark_partition_done(self.plan.work_dir, split, period, len(entries))
        release_unused()

    def _write(self, split, period, runs, pointers):
        drops, flags = read_drops(pointers)
        return merge_partition(
            split,
            period,
            runs,
            drops,
            self.plan.out_dir,
            self.schema,
            self.cfg.output,
            flags,
            self.plan.work_dir,
        )


class _SaveDocuments(beam.DoFn):
    """One input file's document table, with what dedup removed, saved as the corpus's dedup
    state (``curate.dedup.state``)."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        file_idx, grouped = item
        pointers = sorted(grouped["removed"])
        key = f"state/{file_idx:05d}"
        fingerprint = self.plan.task_key(key, pointers)
        yield from self.commits.cached(key, fingerprint, lambda: [self._save(file_idx, pointers)])

    def _save(self, file_idx, pointers):
        plan = self.plan
        table = signature_path(plan.work_dir, file_idx)
        return save_docs(table, join(plan.out_dir, STATE_DIR), file_idx, read_removed(pointers))


class SumCounts(beam.CombineFn):
    def create_accumulator(self):
        return Counter()

    def add_input(self, acc, counts):
        acc.update(counts)
        return acc

    def merge_accumulators(self, accs):
        out = Counter()
        for a in accs:
            out.update(a)
        return out

    def extract_output(self, acc):
        return dict(acc)


class _Finalize(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def process(self, _, counts, shards, records):
        cfg = self.plan.cfg
        dec = cfg.decontamination
        stats = build_stats(
            Counter(counts),
            shards,
            dec.model_dump(mode="json") if dec else None,
            list(self.plan.benchmarks),
        )
        manifest = build_manifest(
            cfg.model_dump(mode="json"),
            cfg.config_hash(),
            self.plan.tokenizer_info,
            shards,
            records,
            self.plan.out_dir,
            self.plan.files[self.plan.first_file :],
        )
        write_reports(self.plan.out_dir, stats, manifest)
        yield stats


class BuildCorpus(beam.PTransform):
    """Input file list to a finished corpus directory; outputs the stats dict."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pbegin):
        plan = self.plan
        new_files = list(enumerate(plan.files))[plan.first_file :]
        lines = pbegin | "ListFiles" >> beam.Create(new_files) | "LineDedup" >> _UnitDrops(plan)
        processed = (
            lines["files"]
            | "Spread" >> beam.Reshuffle()
            | "Process"
            >> beam.ParDo(_ProcessFiles(plan)).with_outputs(
                "dedup", "bands", "counts", "records", main="runs"
            )
        )
        resolved = (processed.dedup, processed.bands) | "Deduplicate" >> Deduplicate(plan)
        shards = (
            {"runs": processed.runs, "drops": resolved["drops"]}
            | "ByPartition" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(_WritePartition(plan))
        )
        line_counts = [lines["counts"]] if lines["counts"] is not None else []
        counts = (
            (processed.counts, *resolved["counts"], *line_counts)
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombineGlobally(SumCounts())
        )
        records = [processed.records, resolved["records"], resolved["state"]]
        if lines["state"] is not None:
            records.append(lines["state"])
        cfg = plan.cfg
        if cfg.dedup.exact or near_stage(cfg.dedup) is not None:
            listed = pbegin | "FileIndices" >> beam.Create([(i, True) for i, _ in new_files])
            saved = (
                {"file": listed, "removed": resolved["removed"]}
                | "ByInputFile" >> beam.CoGroupByKey()
                | "SaveDocuments" >> beam.ParDo(_SaveDocuments(plan))
            )
            records.append(saved)
        records = tuple(records) | "AllRecords" >> beam.Flatten()
        return (
            pbegin
            | "Once" >> beam.Create([None])
            | "Finalize"
            >> beam.ParDo(
                _Finalize(plan),
                pvalue.AsSingleton(counts),
                pvalue.AsList(shards),
                pvalue.AsList(records),
            )
        )
