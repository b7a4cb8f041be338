"""Deduplication as Beam PTransforms: exact edges by key bucket, LSH band candidates, verified
pairs, connected components by star rounds, and survivors picked with rejected rows written.
What grows with the corpus (exact records, band records, candidate pairs, and with the
duplicates: edges, cluster labels, drops and removed documents) stays in files in the work
directory, and only (file, first record, count) or (file, batch) pointers cross the shuffles:
on the single-machine runner a shuffle lives in the driver's memory, and whatever crosses one
is decoded and re-encoded by a worker (docs/scaling.md)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam import pvalue

from curate.core.document import vertex_file
from curate.core.fileio import join, write_jsonl
from curate.core.memory import release_unused
from curate.dedup.clusters import (
    band_pairs,
    cluster_members,
    cross_split_removals,
    exact_edges,
    removals,
)
from curate.dedup.components import (
    EMPTY,
    as_edges,
    large_star,
    small_star,
    star_labels,
    symmetric,
)
from curate.dedup.drops import drops_path, removed_path, write_drops, write_removed
from curate.dedup.near import near_stage
from curate.dedup.signatures import (
    BAND_RECORD,
    EXACT_RECORD,
    PAIR_RECORD,
    SignatureTables,
    pair_path,
    read_slice,
    ref_file,
    write_bucketed,
)
from curate.dedup.state import STATE_DIR, prior_bands, prior_exact, save_bands, save_exact
from curate.stages.commits import Commits
from curate.temporal.rules import split_ranks
from pipelines.plan import BuildPlan


def _spill(work_dir: str, name: str, edges: np.ndarray, buckets: int) -> list[tuple]:
    """Edges (or labels) by their source's bucket as one work-directory file; returns
    ``(bucket, (path, first row, count))`` pointers. File names are deterministic, so a
    retried bundle rewrites its own file."""
    if not len(edges):
        return []
    path = join(work_dir, "components", f"{name}.bin")
    slices = write_bucketed(path, edges, edges[:, 0] % buckets)
    return [(bucket, (path, start, count)) for bucket, start, count in slices]


def _gather(slices) -> np.ndarray:
    """The rows of one bucket from the files ``_spill`` wrote."""
    return np.concatenate([*(read_slice(PAIR_RECORD, *s) for s in sorted(slices)), EMPTY])


@beam.typehints.with_output_types(Any)  # main and tagged outputs differ
class _ExactEdges(beam.DoFn):
    """One bucket's exact records, read from the files the per-file stage wrote and saved as
    the corpus's dedup state; with an earlier corpus (an append), its records with the same
    keys join them, with the links to their clusters' survivors."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.commits = Commits(self.plan.work_dir)
        self.tables = SignatureTables(self.plan.work_dir, prior=self.plan.prior)

    def process(self, item):
        key = f"exact/{item[0]:05d}"
        inputs = sorted(item[1])
        fingerprint = self.plan.task_key(key, inputs)
        yield from self.commits.cached(key, fingerprint, lambda: list(self._process(item)))

    def _process(self, item):
        bucket, slices = item
        records = np.concatenate([read_slice(EXACT_RECORD, *s) for s in sorted(slices)])
        for info in save_exact(join(self.plan.out_dir, STATE_DIR), bucket, records):
            yield pvalue.TaggedOutput("state", info)
        links = []
        if self.plan.prior is not None:
            old = prior_exact(self.plan.prior, bucket, records)
            links = self.tables.links(old["vertex"].tolist())
            records = np.concatenate([records, old])
        edges = exact_edges(records)
        if links:
            edges = np.concatenate([edges, np.asarray(links, np.int64)])
        work, buckets = self.plan.work_dir, self.plan.cfg.dedup.buckets
        yield from _spill(work, f"exact-{bucket:05d}", symmetric(edges), buckets)


@beam.typehints.with_output_types(Any)
class _BandCandidates(beam.DoFn):
    """One bucket's band records, read from the band files, to candidate pairs, written to
    the work directory by the input file of their smaller side; only a pointer per file
    leaves. A pair collides in several bands (several buckets), so candidates outnumber the
    pairs verified 4-5x: held in a shuffle, they made the driver grow with the corpus."""

    def __init__(self, plan: BuildPlan, max_bucket: int):
        self.plan = plan
        self.work_dir = plan.work_dir
        self.state_dir = join(plan.out_dir, STATE_DIR)
        self.prior = plan.prior
        self.max_bucket = max_bucket

    def setup(self):
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        key = f"bands/{item[0]:05d}"
        inputs = sorted(item[1])
        fingerprint = self.plan.task_key(key, inputs)
        yield from self.commits.cached(key, fingerprint, lambda: list(self._process(item)))

    def _process(self, item):
        bucket, slices = item
        records = np.concatenate([read_slice(BAND_RECORD, *s) for s in sorted(slices)])
        for info in save_bands(self.state_dir, bucket, records):
            yield pvalue.TaggedOutput("state", info)
        if self.prior is not None:  # earlier increments' documents sharing a band key
            records = np.concatenate([records, prior_bands(self.prior, bucket, records)])
        pairs = band_pairs(records, self.max_bucket)
        if self.prior is not None and len(pairs):  # earlier increments' pairs were decided
            pairs = pairs[~self.prior.is_old(ref_file(pairs).max(axis=1))]
        if len(pairs):
            path = pair_path(self.work_dir, bucket)
            files = ref_file(pairs[:, 0])
            for f, start, count in write_bucketed(path, pairs, files):
                yield f, (path, start, count)
        release_unused()


class _VerifyPairs(beam.DoFn):
    """Candidate pairs of one input file to duplicate edges between vertices: those whose
    similarity reaches the threshold, or all of them without verification."""

    def __init__(
        self,
        plan: BuildPlan,
        threshold: float | None,
        cross: float | None = None,
        ranks: dict[str, int] | None = None,
    ):
        self.plan = plan
        self.threshold = threshold
        self.cross = cross  # cross_split_threshold, with the splits' order
        self.ranks = ranks or {}

    def setup(self):
        self.commits = Commits(self.plan.work_dir)
        self.tables = SignatureTables(self.plan.work_dir, prior=self.plan.prior)

    def process(self, item):
        key = f"verify/{item[0]:05d}"
        inputs = sorted(item[1])
        fingerprint = self.plan.task_key(key, inputs)
        yield from self.commits.cached(key, fingerprint, lambda: list(self._process(item)))

    def _process(self, item):
        file_idx, slices = item
        pairs = np.unique(_gather(slices), axis=0)
        pairs = pairs[np.lexsort((pairs[:, 0], ref_file(pairs[:, 1])))]  # other files in turn
        counts = Counter()
        if self.threshold is not None:
            similarity = self.tables.ref_similarity
            scores = [similarity(a, b) for a, b in pairs.tolist()]
            counts["near_dedup.pairs_verified"] += len(pairs)
            if self.cross is not None:
                yield from self._cross_split(pairs, scores, counts)
            pairs = pairs[np.asarray([s >= self.threshold for s in scores], bool)]
            counts["near_dedup.pairs_above_threshold"] += len(pairs)
        vertex = self.tables.vertex
        if len(pairs):
            edges = [(vertex(a), vertex(b)) for a, b in pairs.tolist()]
            edges = as_edges(edges + self.tables.links(v for e in edges for v in e))
            work, buckets = self.plan.work_dir, self.plan.cfg.dedup.buckets
            yield from _spill(work, f"near-{file_idx:05d}", symmetric(edges), buckets)
        yield pvalue.TaggedOutput("counts", counts)
        release_unused()

    def _cross_split(self, pairs, scores, counts):
        """Pairs below the threshold but at ``cross`` or above, in different splits:
        (later document, (earlier document, similarity)), vertices."""
        for (a, b), s in zip(pairs.tolist(), scores, strict=True):
            if not self.cross <= s < self.threshold:
                continue
            ra, rb = self.ranks.get(self.tables.split(a)), self.ranks.get(self.tables.split(b))
            if ra is None or rb is None or ra == rb:
                continue
            later, earlier = (a, b) if ra > rb else (b, a)
            if self.plan.prior is not None and self.plan.prior.is_old(ref_file(later)):
                counts["append.out_of_order_cross_split"] += 1  # its shard stays as written
                continue
            counts["near_dedup.cross_split_pairs"] += 1
            vertex = self.tables.vertex
            yield pvalue.TaggedOutput("cross", (vertex(later), (vertex(earlier), s)))


class _Step(beam.DoFn):
    """One bucket's edges through one step of the star rounds (or to its labels), spilled to
    the work directory: ``fn`` of the edges, by bucket of their source."""

    def __init__(self, plan: BuildPlan, name: str, fn):
        self.plan, self.name, self.fn = plan, name, fn

    def setup(self):
        self.commits = Commits(self.plan.work_dir)

    def process(self, item):
        bucket, slices = item
        slices = sorted(slices)
        name = f"{self.name}-{bucket:05d}"
        work, buckets = self.plan.work_dir, self.plan.cfg.dedup.buckets
        compute = lambda: _spill(work, name, self.fn(_gather(slices)), buckets)  # noqa: E731
        key = f"cc/{name}"
        yield from self.commits.cached(key, self.plan.task_key(key, slices), compute)


class _Components(beam.PTransform):
    """Pointers to symmetric edges, by bucket of their source vertex, to pointers to
    (component, vertex) rows by bucket of the component, for every vertex with an edge, by
    unrolled star rounds; a component is named by its smallest vertex."""

    def __init__(self, plan: BuildPlan, rounds: int):
        super().__init__()
        self.plan, self.rounds = plan, rounds

    def expand(self, edges):
        plan = self.plan
        for r in range(self.rounds):
            edges = (
                edges
                | f"GroupL{r}" >> beam.GroupByKey()
                | f"LargeStar{r}" >> beam.ParDo(_Step(plan, f"large{r}", large_star))
                | f"GroupS{r}" >> beam.GroupByKey()
                | f"SmallStar{r}" >> beam.ParDo(_Step(plan, f"small{r}", small_star))
            )
        labels = _Step(plan, "labels", _labels)
        return edges | "GroupFinal" >> beam.GroupByKey() | "Labels" >> beam.ParDo(labels)


def _labels(edges: np.ndarray) -> np.ndarray:
    """One bucket's labels as (component, vertex) rows."""
    try:
        labels = star_labels(edges)
    except RuntimeError:
        raise RuntimeError(
            "duplicate clusters did not converge; raise cc_rounds (dedup.near or "
            "dedup.perceptual) and rebuild"
        ) from None
    return labels[:, ::-1]


class _RemoveDuplicates(beam.DoFn):
    """One bucket of components: their members read from the document tables, each
    component's survivor picked, the others' similarity to it read (near-dedup), rejected rows
    written, drops and counts emitted."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.commits = Commits(self.plan.work_dir)
        cfg = self.plan.cfg
        self.flag = cfg.temporal.cross_split_duplicates == "flag"
        self.tables = SignatureTables(self.plan.work_dir, prior=self.plan.prior)
        near = near_stage(cfg.dedup)
        self.similarities = self.tables.similarities if near else None
        self.cross = near is not None and near.cross_split_threshold is not None

    def process(self, item):
        key = f"remove/{item[0]:05d}"
        inputs = sorted(item[1])
        fingerprint = self.plan.task_key(key, inputs)
        yield from self.commits.cached(key, fingerprint, lambda: list(self._process(item)))

    def _process(self, item):
        bucket, slices = item
        labels = _gather(slices)[:, ::-1]  # (vertex, component)
        members = cluster_members(labels, self.tables)
        prior = self.plan.prior
        is_old = (lambda v: prior.is_old(int(vertex_file(v)))) if prior else None
        drops, rows, counts, removed = removals(
            members, self.plan.files, self.flag, self.similarities, is_old
        )
        work = self.plan.work_dir
        yield from write_drops(drops_path(work, "duplicates", bucket), drops)
        for pointer in write_removed(removed_path(work, "duplicates", bucket), removed):
            yield pvalue.TaggedOutput("removed", pointer)
        if self.cross:  # what the cross-split step must not remove a second time
            for v in removed[:, 0].tolist():
                yield pvalue.TaggedOutput("gone", (v, True))
        if rows:
            path = join(self.plan.out_dir, "rejected", f"duplicates-{bucket:05d}.jsonl")
            info = write_jsonl(path, rows)
            yield pvalue.TaggedOutput(
                "records", {"path": path, "kind": "rejected", "records": len(rows), **info}
            )
        yield pvalue.TaggedOutput("counts", counts)
        release_unused()


def _not_gone(item, buckets: int):
    vertex, grouped = item
    if not grouped["gone"] and grouped["cross"]:
        yield vertex % buckets, (vertex, sorted(grouped["cross"]))


class _RemoveCrossSplit(beam.DoFn):
    """One bucket of later-split documents near an earlier split's (below the threshold):
    removed or flagged, rejected rows written."""

    def __init__(self, plan: BuildPlan):
        self.plan = plan

    def setup(self):
        self.commits = Commits(self.plan.work_dir)
        self.flag = self.plan.cfg.temporal.cross_split_duplicates == "flag"
        self.tables = SignatureTables(self.plan.work_dir, prior=self.plan.prior)

    def process(self, item):
        key = f"cross/{item[0]:05d}"
        inputs = sorted(item[1])
        fingerprint = self.plan.task_key(key, inputs)
        yield from self.commits.cached(key, fingerprint, lambda: list(self._process(item)))

    def _process(self, item):
        bucket, evidence = item
        drops, rows, counts, removed = cross_split_removals(
            list(evidence), self.tables, self.plan.files, self.flag
        )
        work = self.plan.work_dir
        yield from write_drops(drops_path(work, "cross-split", bucket), drops)
        for pointer in write_removed(removed_path(work, "cross-split", bucket), removed):
            yield pvalue.TaggedOutput("removed", pointer)
        if rows:
            path = join(self.plan.out_dir, "rejected", f"cross-split-{bucket:05d}.jsonl")
            info = write_jsonl(path, rows)
            yield pvalue.TaggedOutput(
                "records", {"path": path, "kind": "rejected", "records": len(rows), **info}
            )
        yield pvalue.TaggedOutput("counts", counts)


class Deduplicate(beam.PTransform):
    """Pointers to the per-file stage's dedup records to pointers to drops by partition
    (``curate.dedup.drops``), removed documents by input file, rejected files and counts."""

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
            | "ExactEdges" >> beam.ParDo(_ExactEdges(plan)).with_outputs("state", main="edges")
        )
        edge_sets = [exact.edges]
        states = [exact.state]
        counts = []
        cross = near.cross_split_threshold if near is not None else None
        if near is not None:
            threshold = near.threshold if near.verify else None
            verify = _VerifyPairs(plan, threshold, cross, split_ranks(cfg.temporal))
            candidates = (
                bands
                | "GroupBands" >> beam.GroupByKey()
                | "Candidates"
                >> beam.ParDo(_BandCandidates(plan, near.max_bucket)).with_outputs(
                    "state", main="pairs"
                )
            )
            verified = (
                candidates.pairs
                | "GroupPairsByFile" >> beam.GroupByKey()
                | "VerifyPairs" >> beam.ParDo(verify).with_outputs("counts", "cross", main="edges")
            )
            states.append(candidates.state)
            counts.append(verified.counts)
            edge_sets.append(verified.edges)
        edges = tuple(edge_sets) | "AllEdges" >> beam.Flatten()
        buckets = cfg.dedup.buckets
        removed = (
            edges
            | "Clusters" >> _Components(plan, near.cc_rounds if near else 1)
            | "GroupBuckets" >> beam.GroupByKey()
            | "Remove"
            >> beam.ParDo(_RemoveDuplicates(plan)).with_outputs(
                "counts", "records", "gone", "removed", main="drops"
            )
        )
        drops, records, gone = [removed.drops], [removed.records], [removed.removed]
        if cross is not None:
            leaked = (
                {"cross": verified.cross, "gone": removed.gone}
                | "JoinCrossSplit" >> beam.CoGroupByKey()
                | "NotRemoved" >> beam.FlatMap(_not_gone, buckets)
                | "GroupCrossSplit" >> beam.GroupByKey()
                | "RemoveCrossSplit"
                >> beam.ParDo(_RemoveCrossSplit(plan)).with_outputs(
                    "counts", "records", "removed", main="drops"
                )
            )
            drops.append(leaked.drops)
            records.append(leaked.records)
            counts.append(leaked.counts)
            gone.append(leaked.removed)
        return {
            "drops": tuple(drops) | "AllDrops" >> beam.Flatten(),
            "records": tuple(records) | "DedupRecords" >> beam.Flatten(),
            "counts": [removed.counts, *counts],
            "removed": tuple(gone) | "AllRemoved" >> beam.Flatten(),
            "state": tuple(states) | "AllState" >> beam.Flatten(),
        }
