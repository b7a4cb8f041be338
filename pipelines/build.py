"""The corpus build as Beam PTransforms.

Runner-agnostic: every DoFn is picklable and builds its heavy state (filters, tokenizer) in
``setup()``; all intermediate data goes through FileSystems under the work directory; only
small records (run paths, dedup keys, counts, shard entries) pass through shuffles.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import chain

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from curate.components import as_edges, by_bucket, large_star, small_star, star_labels, symmetric
from curate.config import BuildConfig
from curate.dedup import band_pairs, cluster_members, exact_edges, removals
from curate.fileio import join, write_jsonl
from curate.lines import repeated_units
from curate.memory import release_unused
from curate.process import FileProcessor, scan_units
from curate.progress import mark_file_done, mark_partition_done
from curate.report import build_manifest, build_stats, write_reports
from curate.schema import shard_schema
from curate.shards import merge_partition
from curate.signatures import SignatureTables, read_band_slice, ref_file
from filters.registry import build_filters, signal_names


@dataclass(frozen=True)
class BuildPlan:
    """Everything the workers need, decided once by the driver."""

    config_json: str
    files: tuple[str, ...]
    tokenizer_json: str
    tokenizer_info: dict
    work_dir: str
    out_dir: str  # the build's staging folder: the corpus is published from there

    def config(self) -> BuildConfig:
        return BuildConfig.model_validate_json(self.config_json)


class _ProcessFiles(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        plan = self.plan
        self.proc = FileProcessor(plan.config(), plan.tokenizer_json, plan.work_dir, plan.out_dir)
        self.docs_in = Metrics.counter("curate", "input_records")

    def process(self, item):
        file_idx, path, unit_drops = item
        res = self.proc.process(file_idx, path, unit_drops)
        self.docs_in.inc(res.counts["input_records"])
        mark_file_done(self.plan.work_dir, file_idx, res.counts["input_records"])
        yield from res.runs
        if len(res.exact):
            head = np.ascontiguousarray(res.exact["key"]).view(">u4").reshape(-1, 4)[:, 0]
            buckets = head % self.proc.cfg.dedup.buckets  # keys are hashes: spread evenly
            for b in np.unique(buckets).tolist():
                yield pvalue.TaggedOutput("dedup", (b, res.exact[buckets == b]))
        for path, bucket, start, count in res.band_slices:
            yield pvalue.TaggedOutput("bands", (bucket, (path, start, count)))
        yield pvalue.TaggedOutput("counts", res.counts)
        for info in res.record_files:
            yield pvalue.TaggedOutput("records", info)
        release_unused()  # a bundle can hold many files: trim after each


class _ScanUnits(beam.DoFn):
    """Line dedup's first pass: (unit key, document) records of one file, in buckets."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.cfg = self.plan.config()

    def process(self, item):
        file_idx, path = item
        n = self.cfg.dedup.buckets
        buckets: dict[int, list] = {}
        for key, node in scan_units(self.cfg, file_idx, path):
            buckets.setdefault(key % n, []).append((key, node))
        yield from sorted(buckets.items())


class _UnitDrops(beam.PTransform):
    """Input files to (file index, path, {origin: unit keys to remove}) for the main pass."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, files):
        cfg = self.plan.config().dedup.lines
        if cfg is None:
            return files | "NoUnitDrops" >> beam.MapTuple(lambda i, path: (i, path, None))
        drops = (
            files
            | "SpreadScan" >> beam.Reshuffle()
            | "ScanUnits" >> beam.ParDo(_ScanUnits(self.plan))
            | "GroupUnits" >> beam.GroupByKey()
            | "RepeatedUnits"
            >> beam.FlatMapTuple(lambda _, lists: repeated_units(chain(*lists), cfg.min_docs))
        )
        return (
            {"path": files, "drops": drops}
            | "JoinUnitDrops" >> beam.CoGroupByKey()
            | "ByOrigin" >> beam.MapTuple(_with_drops)
        )


def _with_drops(file_idx, grouped):
    by_origin: dict[str, set[int]] = {}
    for drops in grouped["drops"]:
        for origin, key in drops:
            by_origin.setdefault(origin, set()).add(key)
    return file_idx, grouped["path"][0], by_origin


def _exact_edges(_, arrays):
    edges = exact_edges(np.concatenate(list(arrays)))
    if len(edges):
        yield edges


class _BandCandidates(beam.DoFn):
    """One bucket's band records, read from the band tables, to candidate pairs: one array
    per input file of the pairs' smaller side."""

    def __init__(self, max_bucket: int):
        self.max_bucket = max_bucket

    def process(self, item):
        _, slices = item
        records = np.concatenate([read_band_slice(*s) for s in sorted(slices)])
        pairs = band_pairs(records, self.max_bucket)
        files = ref_file(pairs[:, 0])
        for f in np.unique(files).tolist():
            yield f, pairs[files == f]
        release_unused()


class _VerifyPairs(beam.DoFn):
    """Candidate pairs of one input file to duplicate edges between vertices: those whose
    similarity reaches the threshold, or all of them without verification."""

    def __init__(self, work_dir: str, threshold: float | None):
        self.work_dir = work_dir
        self.threshold = threshold

    def setup(self):
        self.tables = SignatureTables(self.work_dir)

    def process(self, item):
        _, arrays = item
        pairs = np.unique(np.concatenate(list(arrays)), axis=0)
        pairs = pairs[np.lexsort((pairs[:, 0], ref_file(pairs[:, 1])))]  # other files in turn
        counts = Counter()
        if self.threshold is not None:
            similarity = self.tables.ref_similarity
            keep = [similarity(a, b) >= self.threshold for a, b in pairs.tolist()]
            counts["near_dedup.pairs_verified"] += len(pairs)
            pairs = pairs[np.asarray(keep, bool)]
            counts["near_dedup.pairs_above_threshold"] += len(pairs)
        vertex = self.tables.vertex
        if len(pairs):
            yield as_edges([(vertex(a), vertex(b)) for a, b in pairs.tolist()])
        yield pvalue.TaggedOutput("counts", counts)
        release_unused()


class _Components(beam.PTransform):
    """Edge arrays to (bucket of components, [(vertex, component)]) arrays for every vertex
    with an edge, by unrolled star rounds over buckets of source vertices; a component is
    named by its smallest vertex."""

    def __init__(self, rounds: int, buckets: int):
        super().__init__()
        self.rounds = rounds
        self.buckets = buckets

    def expand(self, edges):
        n = self.buckets

        def step(star):
            return lambda _, arrays: by_bucket(star(np.concatenate(list(arrays))), n)

        def labels(_, arrays):
            return _labels(np.concatenate(list(arrays)), n)

        edges = edges | "Symmetric" >> beam.FlatMap(lambda e: by_bucket(symmetric(e), n))
        for r in range(self.rounds):
            edges = (
                edges
                | f"GroupL{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMapTuple(step(large_star))
                | f"GroupS{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMapTuple(step(small_star))
            )
        return edges | "GroupFinal" >> beam.GroupByKey() | "Labels" >> beam.FlatMapTuple(labels)


def _labels(edges: np.ndarray, buckets: int):
    """One bucket's (vertex, component) labels, split by the components' bucket."""
    try:
        labels = star_labels(edges)
    except RuntimeError:
        raise RuntimeError(
            "duplicate clusters did not converge; raise cc_rounds (dedup.near or "
            "dedup.perceptual) and rebuild"
        ) from None
    yield from by_bucket(labels[:, ::-1], buckets)  # as (component, vertex) rows


class _RemoveDuplicates(beam.DoFn):
    """One bucket of components: their members read from the document tables, each
    component's survivor picked, the others' similarity to it read (near-dedup), rejected rows
    written, drops and counts emitted."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        cfg = self.plan.config()
        self.flag = cfg.temporal.cross_split_duplicates == "flag"
        self.tables = SignatureTables(self.plan.work_dir)
        self.similarities = self.tables.similarities if cfg.dedup.fuzzy() else None

    def process(self, item):
        bucket, arrays = item
        labels = np.concatenate(list(arrays))[:, ::-1]  # (vertex, component)
        members = cluster_members(labels, self.tables)
        drops, rows, counts = removals(members, self.plan.files, self.flag, self.similarities)
        yield from sorted(drops.items())
        if rows:
            path = join(self.plan.out_dir, "rejected", f"duplicates-{bucket:05d}.jsonl")
            info = write_jsonl(path, rows)
            yield pvalue.TaggedOutput(
                "records", {"path": path, "kind": "rejected", "records": len(rows), **info}
            )
        yield pvalue.TaggedOutput("counts", counts)
        release_unused()


class _Deduplicate(beam.PTransform):
    """Dedup records from the per-file stage to (partition, [(run, row)]) drops."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pcolls):
        hashes, bands = pcolls
        plan = self.plan
        cfg = plan.config()
        near = cfg.dedup.fuzzy()
        exact = (
            hashes
            | "GroupHashes" >> beam.GroupByKey()
            | "ExactEdges" >> beam.FlatMapTuple(_exact_edges)
        )
        edge_sets = [exact]
        counts = []
        if near is not None:
            threshold = near.threshold if near.verify else None
            verified = (
                bands
                | "GroupBands" >> beam.GroupByKey()
                | "Candidates" >> beam.ParDo(_BandCandidates(near.max_bucket))
                | "GroupPairsByFile" >> beam.GroupByKey()
                | "VerifyPairs"
                >> beam.ParDo(_VerifyPairs(plan.work_dir, threshold)).with_outputs(
                    "counts", main="edges"
                )
            )
            counts.append(verified.counts)
            edge_sets.append(verified.edges)
        edges = tuple(edge_sets) | "AllEdges" >> beam.Flatten()
        buckets = cfg.dedup.buckets
        removed = (
            edges
            | "Clusters" >> _Components(near.cc_rounds if near else 1, buckets)
            | "GroupBuckets" >> beam.GroupByKey()
            | "Remove"
            >> beam.ParDo(_RemoveDuplicates(plan)).with_outputs("counts", "records", main="drops")
        )
        return {
            "drops": removed.drops,
            "records": removed.records,
            "counts": [removed.counts, *counts],
        }


class _WritePartition(beam.DoFn):
    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        cfg = self.plan.config()
        self.cfg = cfg
        self.schema = shard_schema(
            signal_names(build_filters(cfg.filters)), cfg.output.keep_text, cfg.multimodal
        )

    def process(self, item):
        (split, period), grouped = item
        drops: dict[str, set[int]] = {}
        flags: dict[str, dict[int, str]] = {}
        for entries in grouped["drops"]:
            for run, rows, *kept in entries:
                if kept:  # a cross-split copy kept with a flag: rows is its row
                    flags.setdefault(run, {})[rows] = kept[0]
                else:
                    drops.setdefault(run, set()).update(rows.tolist())
        entries = merge_partition(
            split,
            period,
            list(grouped["runs"]),
            drops,
            self.plan.out_dir,
            self.schema,
            self.cfg.output.shard_tokens,
            self.cfg.output.rows_per_batch,
            self.cfg.output.shard_image_bytes,
            flags,
        )
        yield from entries
        mark_partition_done(self.plan.work_dir, split, period, len(entries))
        release_unused()


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
            self.plan.out_dir,
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
        processed = (
            pbegin
            | "ListFiles" >> beam.Create(list(enumerate(plan.files)))
            | "LineDedup" >> _UnitDrops(plan)
            | "Spread" >> beam.Reshuffle()
            | "Process"
            >> beam.ParDo(_ProcessFiles(plan)).with_outputs(
                "dedup", "bands", "counts", "records", main="runs"
            )
        )
        resolved = (processed.dedup, processed.bands) | "Deduplicate" >> _Deduplicate(plan)
        shards = (
            {"runs": processed.runs, "drops": resolved["drops"]}
            | "ByPartition" >> beam.CoGroupByKey()
            | "WriteShards" >> beam.ParDo(_WritePartition(plan))
        )
        counts = (
            (processed.counts, *resolved["counts"])
            | "AllCounts" >> beam.Flatten()
            | "SumCounts" >> beam.CombineGlobally(SumCounts())
        )
        records = (processed.records, resolved["records"]) | "AllRecords" >> beam.Flatten()
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
