"""Deduplication as Beam PTransforms: exact edges by key bucket, LSH band candidates, verified
pairs, connected components by star rounds, and survivors picked with rejected rows written.
Only compact arrays and (bucket, file, offset) pointers cross the shuffles."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from curate.core.fileio import join, write_jsonl
from curate.core.memory import release_unused
from curate.dedup.clusters import band_pairs, cluster_members, exact_edges, removals
from curate.dedup.components import (
    as_edges,
    by_bucket,
    large_star,
    small_star,
    star_labels,
    symmetric,
)
from curate.dedup.near import near_stage
from curate.dedup.signatures import SignatureTables, read_band_slice, ref_file

if TYPE_CHECKING:
    from pipelines.build import BuildPlan


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
        cfg = self.plan.cfg
        self.flag = cfg.temporal.cross_split_duplicates == "flag"
        self.tables = SignatureTables(self.plan.work_dir)
        self.similarities = self.tables.similarities if near_stage(cfg.dedup) else None

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


class Deduplicate(beam.PTransform):
    """Dedup records from the per-file stage to (partition, [(run, row)]) drops."""

    def __init__(self, plan: BuildPlan):
        super().__init__()
        self.plan = plan

    def expand(self, pcolls):
        hashes, bands = pcolls
        plan = self.plan
        cfg = plan.cfg
        near = near_stage(cfg.dedup)
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
