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
    unit_path,
    write_unit_drops,
    write_unit_table,
)
from curate.dedup.near import near_stage
from curate.dedup.signatures import signature_path
from curate.dedup.state import STATE_DIR, prior_units, save_docs, save_units
from curate.format.reports import build_manifest, write_reports
from curate.format.schema import shard_schema
from curate.format.stats import build_stats
from curate.stages.markers import mark_file_done, mark_partition_done
from curate.stages.process import FileProcessor
from curate.stages.screen import scan_units, screen_signals
from curate.stages.shards import merge_partition
from pipelines.dedup import Deduplicate
from pipelines.plan import BuildPlan


class _ProcessFiles(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        plan = self.plan
        self.proc = FileProcessor(plan.cfg, plan.tokenizer_json, plan.work_dir, plan.out_dir)
        self.docs_in = Metrics.counter("curate", "input_records")

    def process(self, item):
        file_idx, path, unit_drops = item
        if unit_drops is not None:
            unit_drops = read_unit_drops(unit_drops)
        res = self.proc.process(file_idx, path, unit_drops)
        self.docs_in.inc(res.counts["input_records"])
        mark_file_done(self.plan.work_dir, file_idx, res.counts["input_records"])
        yield from res.runs
        for path, bucket, start, count in res.exact_slices:
            yield pvalue.TaggedOutput("dedup", (bucket, (path, start, count)))
        for path, bucket, start, count in res.band_slices:
            yield pvalue.TaggedOutput("bands", (bucket, (path, start, count)))
        yield pvalue.TaggedOutput("counts", res.counts)
        for info in res.record_files:
            yield pvalue.TaggedOutput("records", info)
        release_unused()  # a bundle can hold many files: trim after each


class _ScanUnits(beam.DoFn):
    """Line dedup's first pass: one file's (unit key, document) records, written to the work
    directory by bucket; (bucket, (table, batch)) pointers leave."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.cfg = self.plan.cfg

    def process(self, item):
        file_idx, path = item
        table = unit_path(self.plan.work_dir, file_idx)
        units = scan_units(self.cfg, file_idx, path)
        for bucket, batch in write_unit_table(table, units, self.cfg.dedup.buckets):
            yield bucket, (table, batch)


def _repeated(bucket_pointers, plan: BuildPlan, min_docs: int):
    """One bucket's unit records, read from every file's table, to removals written to the
    work directory: (input file, (table, batch)) pointers leave. The bucket's unit counts are
    saved as the corpus's dedup state; an append reads the earlier increments'."""
    bucket, pointers = bucket_pointers
    units = list(chain.from_iterable(read_units(*p) for p in sorted(pointers)))
    prior = None
    if plan.prior is not None:
        prior = prior_units(plan.prior, bucket, [k for k, _ in units])
    found = repeated_units(units, min_docs, prior)
    for info in save_units(join(plan.out_dir, STATE_DIR), bucket, found.units):
        yield pvalue.TaggedOutput("state", info)
    yield pvalue.TaggedOutput("counts", found.counts)
    work = plan.work_dir
    yield from write_unit_drops(unit_drops_path(work, bucket), found.removals)


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
            >> beam.FlatMap(_repeated, self.plan, cfg.min_docs).with_outputs(
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

    def process(self, item):
        (split, period), grouped = item
        drops, flags = read_drops(grouped["drops"])
        entries = merge_partition(
            split,
            period,
            list(grouped["runs"]),
            drops,
            self.plan.out_dir,
            self.schema,
            self.cfg.output,
            flags,
            self.plan.work_dir,
        )
        yield from entries
        mark_partition_done(self.plan.work_dir, split, period, len(entries))
        release_unused()


class _SaveDocuments(beam.DoFn):
    """One input file's document table, with what dedup removed, saved as the corpus's dedup
    state (``curate.dedup.state``)."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def process(self, item):
        file_idx, grouped = item
        rows = read_removed(grouped["removed"])
        plan = self.plan
        table = signature_path(plan.work_dir, file_idx)
        yield save_docs(table, join(plan.out_dir, STATE_DIR), file_idx, rows)


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
