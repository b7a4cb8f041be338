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
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from curate.components import converged, large_star, small_star, star_labels
from curate.config import BuildConfig
from curate.dedup import band_candidates, exact_edges, locate, removal_records
from curate.fileio import delete_tree, join, write_jsonl
from curate.lines import repeated_units
from curate.process import FileProcessor, scan_units
from curate.report import build_manifest, build_stats, write_reports
from curate.schema import shard_schema
from curate.shards import merge_partition
from curate.signatures import SignatureTables, file_of
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
        file_idx, path, unit_drops = item
        res = self.proc.process(file_idx, path, unit_drops)
        self.docs_in.inc(res.counts["input_records"])
        yield from res.runs
        n = self.proc.cfg.dedup.buckets
        if self.proc.cfg.dedup.exact:
            buckets: dict[int, list] = {}
            for e in res.dedup:
                buckets.setdefault(_bucket(e.key, n), []).append(e)
            for b, entries in sorted(buckets.items()):
                yield pvalue.TaggedOutput("dedup", (b, entries))
        bands: dict[int, list] = {}
        for e in res.dedup:
            node = e.node()
            for key in e.bands:
                bands.setdefault(_bucket(key[2:], n), []).append((key, node))
        for b, items in sorted(bands.items()):
            yield pvalue.TaggedOutput("bands", (b, items))
        yield pvalue.TaggedOutput("counts", res.counts)
        for info in res.record_files:
            yield pvalue.TaggedOutput("records", info)


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


def _bucket(key: bytes, n: int) -> int:
    return int.from_bytes(key[:4], "big") % n


class _ExactEdges(beam.DoFn):
    def process(self, item):
        _, lists = item
        edges, infos = exact_edges(e for lst in lists for e in lst)
        yield from edges
        for info in infos:  # where each duplicate lives, keyed by node
            yield pvalue.TaggedOutput("infos", (info.node, info))


class _BandCandidates(beam.DoFn):
    def __init__(self, max_bucket: int):
        self.max_bucket = max_bucket

    def process(self, item):
        _, lists = item
        yield from band_candidates((it for lst in lists for it in lst), self.max_bucket)


class _PairSimilarity(beam.DoFn):
    """Similarities of the pairs whose smaller side is in one input file, read from the
    memory-mapped signature tables (kept open across bundles)."""

    def __init__(self, work_dir: str, threshold: float):
        self.work_dir = work_dir
        self.threshold = threshold

    def setup(self):
        self.tables = SignatureTables(self.work_dir)

    def process(self, item):
        _, pairs = item
        counts = Counter()
        for pair, similarity in self.tables.similarities(pairs):
            counts["near_dedup.pairs_verified"] += 1
            counts["near_dedup.pairs_above_threshold"] += similarity >= self.threshold
            yield pair, similarity
        yield pvalue.TaggedOutput("counts", counts)


class _Locate(beam.DoFn):
    """Where each clustered document of one input file lives, from its signature table."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def setup(self):
        self.tables = SignatureTables(self.work_dir)

    def process(self, item):
        file_idx, labels = item
        yield from locate(labels, self.tables[file_idx])


class _Similarity(beam.PTransform):
    """Pairs of nodes to (pair, Jaccard similarity); only the node pairs are shuffled."""

    def __init__(self, work_dir: str, threshold: float):
        super().__init__()
        self.work_dir = work_dir
        self.threshold = threshold

    def expand(self, pairs):
        return (
            pairs
            | "ByFile" >> beam.Map(lambda p: (file_of(p[0]), p))
            | "GroupByFile" >> beam.GroupByKey()
            | "Jaccard"
            >> beam.ParDo(_PairSimilarity(self.work_dir, self.threshold)).with_outputs(
                "counts", main="sims"
            )
        )


class _Components(beam.PTransform):
    """Undirected edges to (node, survivor) for every node, by unrolled star rounds."""

    def __init__(self, rounds: int):
        super().__init__()
        self.rounds = rounds

    def expand(self, edges):
        edges = edges | "Symmetric" >> beam.FlatMap(lambda e: [e, (e[1], e[0])])
        for r in range(self.rounds):
            edges = (
                edges
                | f"GroupL{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.FlatMapTuple(large_star)
                | f"GroupS{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.FlatMapTuple(small_star)
            )
        return edges | "GroupFinal" >> beam.GroupByKey() | "Labels" >> beam.FlatMapTuple(_label)


def _label(node, neighbours):
    neighbours = list(neighbours)
    if not converged(node, neighbours):
        raise RuntimeError(
            "duplicate clusters did not converge; raise cc_rounds (dedup.near or "
            "dedup.perceptual) and rebuild"
        )
    return [star_labels(node, neighbours)]


class _RemoveDuplicates(beam.DoFn):
    """One bucket of components: rejected rows written, drops and counts emitted."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.flag = self.plan.config().temporal.cross_split_duplicates == "flag"

    def process(self, item):
        bucket, comps = item
        drops: dict = {}
        rows: list[dict] = []
        counts: Counter = Counter()
        for survivor, members in sorted(comps, key=lambda c: c[0].node):
            d, r, c = removal_records(survivor, members, self.plan.files, self.flag)
            for part, runs in d.items():
                drops.setdefault(part, []).extend(runs)
            rows.extend(r)
            counts.update(c)
        yield from sorted(drops.items())
        if rows:
            path = join(self.plan.config().output.dir, "rejected", f"duplicates-{bucket:05d}.jsonl")
            info = write_jsonl(path, rows)
            yield pvalue.TaggedOutput(
                "records", {"path": path, "kind": "rejected", "records": len(rows), **info}
            )
        yield pvalue.TaggedOutput("counts", counts)


def _component(items: list, buckets: int):
    """(bucket, (survivor, [(member, similarity)])) from one survivor's scored members."""
    survivor = items[0][0]
    members = sorted(((m, sim) for _, m, sim in items), key=lambda ms: ms[0].node)
    return _bucket(survivor.key, buckets), (survivor, members)


def _by_survivor(node, grouped):
    labels, infos = list(grouped["labels"]), list(grouped["infos"])
    if labels and infos:
        yield labels[0], infos[0]


def _split_component(survivor_node, infos):
    infos = sorted(set(infos), key=lambda i: i.node)
    survivor = next(i for i in infos if i.node == survivor_node)
    for info in infos:
        if info.node != survivor_node:
            yield (survivor.node, info.node), (survivor, info)


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
            | "ExactEdges" >> beam.ParDo(_ExactEdges()).with_outputs("infos", main="edges")
        )
        edge_sets = [exact.edges]
        counts = []
        if near is not None:
            cands = (
                bands
                | "GroupBands" >> beam.GroupByKey()
                | "Candidates" >> beam.ParDo(_BandCandidates(near.max_bucket))
            )
            if near.verify:
                threshold = near.threshold
                checked = cands | "VerifyPairs" >> _Similarity(plan.work_dir, threshold)
                counts.append(checked.counts)
                verified = (
                    checked.sims
                    | "AboveThreshold" >> beam.Filter(lambda ps: ps[1] >= threshold)
                    | "Edge" >> beam.Map(lambda ps: ps[0])
                )
            else:
                verified = cands
            edge_sets.append(verified)
        edges = tuple(edge_sets) | "AllEdges" >> beam.Flatten()
        labels = edges | "Clusters" >> _Components(near.cc_rounds if near else 1)
        if near is not None:  # every kept document's location is in its signature table
            located = (
                labels
                | "ByInputFile" >> beam.Map(lambda ns: (file_of(ns[0]), ns))
                | "GroupByInputFile" >> beam.GroupByKey()
                | "Locate" >> beam.ParDo(_Locate(plan.work_dir))
            )
        else:
            located = (
                {"labels": labels, "infos": exact.infos}
                | "JoinInfo" >> beam.CoGroupByKey()
                | "BySurvivor" >> beam.FlatMapTuple(_by_survivor)
            )
        members = (
            located
            | "GroupComponents" >> beam.GroupByKey()
            | "SplitComponents" >> beam.FlatMapTuple(_split_component)
        )
        if near is not None:
            sims = (
                members
                | "PairsToSurvivor" >> beam.Keys()
                | "SurvivorSimilarity" >> _Similarity(plan.work_dir, near.threshold)
            ).sims
            scored = (
                {"m": members, "s": sims}
                | "JoinSimilarity" >> beam.CoGroupByKey()
                | "Scored" >> beam.MapTuple(lambda _, g: (*list(g["m"])[0], list(g["s"])[0]))
            )
        else:
            scored = members | "Exact" >> beam.MapTuple(lambda _, m: (*m, 1.0))
        buckets = cfg.dedup.buckets
        removed = (
            scored
            | "KeyBySurvivor" >> beam.Map(lambda t: (t[0].node, t))
            | "GroupSurvivor" >> beam.GroupByKey()
            | "Bucket" >> beam.MapTuple(lambda _, items: _component(list(items), buckets))
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
        for rows in grouped["drops"]:
            for run, row, *kept in rows:
                if kept:  # a cross-split copy kept with a flag
                    flags.setdefault(run, {})[row] = kept[0]
                else:
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
            self.cfg.output.shard_image_bytes,
            flags,
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
            cfg.output.dir,
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
