"""The corpus build as Beam PTransforms.

Runner-agnostic: every DoFn is picklable and builds its heavy state (filters, tokenizer) in
``setup()``; all intermediate data goes through FileSystems under the work directory; only
small records (run paths, dedup keys, counts, shard entries) pass through shuffles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from curate.config import BuildConfig
from curate.dedup import resolve_bucket
from curate.fileio import delete_tree, join, write_jsonl
from curate.process import FileProcessor, run_schema
from curate.report import build_manifest, build_stats, write_reports
from curate.shards import merge_partition
from filters.registry import build_filters, signal_names


@dataclass(frozen=True)
class BuildPlan:
    """Everything the workers need, decided once by the driver."""

    config_json: str
    files: tuple[str, ...]
    tokenizer_json: str
    tokenizer_info: dict
    work_dir: str

    def config(self) -> BuildConfig:
        return BuildConfig.model_validate_json(self.config_json)


class _ProcessFiles(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.proc = FileProcessor(self.plan.config(), self.plan.tokenizer_json, self.plan.work_dir)
        self.docs_in = Metrics.counter("curate", "input_records")

    def process(self, item):
        file_idx, path = item
        res = self.proc.process(file_idx, path)
        self.docs_in.inc(res.counts["input_records"])
        yield from res.runs
        buckets: dict[int, list] = {}
        n = self.proc.cfg.dedup.buckets
        for e in res.dedup:
            buckets.setdefault(int.from_bytes(e.key[:4], "big") % n, []).append(e)
        for b, entries in sorted(buckets.items()):
            yield pvalue.TaggedOutput("dedup", (b, entries))
        yield pvalue.TaggedOutput("counts", res.counts)
        for info in res.record_files:
            yield pvalue.TaggedOutput("records", info)


class _ResolveDuplicates(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def process(self, item):
        bucket, lists = item
        drops, rejected, counts = resolve_bucket((e for lst in lists for e in lst), self.plan.files)
        yield from sorted(drops.items())
        if rejected:
            path = join(self.plan.config().output.dir, "rejected", f"duplicates-{bucket:05d}.jsonl")
            info = write_jsonl(path, rejected)
            yield pvalue.TaggedOutput(
                "records", {"path": path, "kind": "rejected", "records": len(rejected), **info}
            )
        yield pvalue.TaggedOutput("counts", counts)


class _WritePartition(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        cfg = self.plan.config()
        self.cfg = cfg
        self.schema = run_schema(signal_names(build_filters(cfg.filters)), cfg.output.keep_text)
        self.schema = self.schema.remove(self.schema.get_field_index("_ts_key"))
        self.schema = self.schema.remove(self.schema.get_field_index("_origin"))

    def process(self, item):
        (split, period), grouped = item
        drops: dict[str, set[int]] = {}
        for rows in grouped["drops"]:
            for run, row in rows:
                drops.setdefault(run, set()).add(row)
        yield from merge_partition(
            split,
            period,
            list(grouped["runs"]),
            drops,
            self.cfg.output.dir,
            self.schema,
            self.cfg.output.shard_tokens,
            self.cfg.output.rows_per_batch,
        )


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
        cfg = self.plan.config()
        stats = build_stats(Counter(counts), shards)
        manifest = build_manifest(
            cfg.model_dump(mode="json"),
            cfg.config_hash(),
            self.plan.tokenizer_info,
            shards,
            records,
        )
        write_reports(cfg.output.dir, stats, manifest)
        delete_tree(self.plan.work_dir)
        yield stats


class BuildCorpus(beam.PTransform):
    """Input file list to a finished corpus directory; outputs the stats dict."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pbegin):
        plan = self.plan
        processed = (
            pbegin
            | "ListFiles" >> beam.Create(list(enumerate(plan.files)))
            | "Spread" >> beam.Reshuffle()
            | "Process"
            >> beam.ParDo(_ProcessFiles(plan)).with_outputs(
                "dedup", "counts", "records", main="runs"
            )
        )
        resolved = (
            processed.dedup
            | "GroupHashes" >> beam.GroupByKey()
            | "Resolve"
            >> beam.ParDo(_ResolveDuplicates(plan)).with_outputs("counts", "records", main="drops")
        )
        shards = (
            {"runs": processed.runs, "drops": resolved.drops}
            | "ByPartition" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(_WritePartition(plan))
        )
        counts = (
            (processed.counts, resolved.counts)
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombineGlobally(SumCounts())
        )
        records = (processed.records, resolved.records) | "AllRecords" >> beam.Flatten()
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
