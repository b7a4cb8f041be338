"""Exact and near-duplicate removal with one survivor rule, the same on every runner.

Documents are vertices of a duplicate graph: one int each, their input file and position
(``curate.core.document.origin_key``). Edges come from identical normalized text (exact) and from
MinHash-LSH band collisions verified by Jaccard similarity (near). Each connected component keeps
the member of smallest rank ``(timestamp, id, input position)`` (undated sorts last): the
earliest copy, ties broken by id. Splits are ordered in time, so a later split never keeps a
copy of an earlier split's document: that is the no-leakage rule.

Only small fixed-size records move between stages: text keys with vertices (24 bytes), band
records, edge arrays. Where each document lives, its signature and its shingles stay in the
work directory's document tables (``curate.dedup.signatures``), read only for a cluster's members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core.document import SORT_LAST, vertex_file
from curate.core.timeparse import us_to_iso
from curate.dedup.components import runs
from curate.dedup.signatures import DOCUMENT_COLUMNS, SignatureTables


def exact_edges(records: np.ndarray) -> np.ndarray:
    """Every copy of a text linked to the copy with the smallest vertex; ``records`` are
    ``EXACT_RECORD``s. The survivor is picked later, from the component's ranks."""
    r = np.sort(records, order=("key", "vertex"))
    starts, sizes = runs(r["key"])
    head = np.repeat(r["vertex"][starts], sizes)
    copy = r["vertex"] != head
    return np.stack((r["vertex"][copy], head[copy]), axis=1)


def band_pairs(records: np.ndarray, max_bucket: int) -> np.ndarray:
    """Candidate pairs ``(ref, ref)``, smaller first, from documents sharing an LSH band key;
    unique and sorted.

    All pairs in a bucket of up to ``max_bucket`` documents. A larger bucket (a template
    shared by many pages, a text quoted everywhere) gets linear pairs: each document with the
    bucket's first and with its successor. Pairs that fail verification can split such a
    bucket, but every true pair collides in several bands (about 5 of 20 at Jaccard 0.8), so
    clusters stay connected in practice: on the dense benchmark corpus this removed 0.03% fewer
    documents than all pairs, with 2.2x fewer pairs to verify.
    """
    r = np.unique(records)  # sorted by band, hash, ref; a document reported twice once
    if len(r) < 2:
        return np.empty((0, 2), np.int64)
    key_change = (r["band"][1:] != r["band"][:-1]) | (r["hash"][1:] != r["hash"][:-1])
    starts = np.flatnonzero(np.concatenate(([True], key_change)))
    sizes = np.diff(np.append(starts, len(r)))
    refs = r["ref"]
    out = []
    for start, size in zip(starts[sizes > 1].tolist(), sizes[sizes > 1].tolist(), strict=True):
        nodes = refs[start : start + size]
        if size <= max_bucket:
            i, j = np.triu_indices(size, 1)
            out.append(np.stack([nodes[i], nodes[j]], axis=1))
        else:
            star = np.stack([np.full(size - 1, nodes[0]), nodes[1:]], axis=1)
            out += [star, np.stack([nodes[1:-1], nodes[2:]], axis=1)]
    if not out:
        return np.empty((0, 2), np.int64)
    return np.unique(np.concatenate(out), axis=0)


def cluster_members(labels: np.ndarray, tables: SignatureTables) -> pa.Table:
    """``(vertex, component)`` labels to their documents' rows (``DOCUMENT_COLUMNS`` and
    ``component``), read from the document tables one input file at a time and sorted by
    component, then rank: the first row of each component survives, whatever vertex names it."""
    labels = np.unique(labels, axis=0)
    files = vertex_file(labels[:, 0])
    parts = []
    for f in np.unique(files).tolist():
        mine = labels[files == f]
        rows = tables[f].documents(mine[:, 0])
        parts.append(rows.append_column("component", pa.array(mine[:, 1], pa.int64())))
    if not parts:
        return pa.table({c: [] for c in (*DOCUMENT_COLUMNS, "component")})
    members = pa.concat_tables(parts)
    order = [(c, "ascending") for c in ("component", "ts_key", "doc_id", "origin")]
    return members.take(pc.sort_indices(members, order))


def removals(
    members: pa.Table,
    files: list[str],
    flag_leakage: bool = False,
    similarities: Callable[[list[tuple[int, int]]], Iterable] | None = None,
    is_old: Callable[[int], bool] | None = None,
) -> tuple[dict[tuple[str, str], list[tuple]], list[dict], Counter, np.ndarray]:
    """Drops per partition, ``rejected/`` rows, counts and the removed (or flagged) documents
    as ``(vertex, survivor, flagged)`` rows, for sorted ``cluster_members``.
    A partition's drops are ``(run, rows)``, one int64 array of rows per run (a path per
    removed document was most of the shuffle to the shard writers); with ``flag_leakage`` a
    copy in another split is kept and flagged instead: ``(run, row, kept_id)``.
    ``similarities`` scores (survivor, member) vertex pairs that are not exact copies
    (near-dedup); without it every member is an exact copy.

    An append (``is_old``: the vertex lies in an earlier increment) never touches what earlier
    increments wrote: a cluster with a document they kept keeps that one (the earliest such);
    a new document ranked before it arrived out of order and is removed all the same, counted
    in ``append.out_of_order``; a second kept one stays, counted in ``append.kept_twice``.
    Documents earlier increments removed are neither kept nor removed again."""
    m = members.to_pydict()
    starts, sizes = runs(members.column("component").to_numpy())
    clusters = [range(s, s + n) for s, n in zip(starts.tolist(), sizes.tolist(), strict=True)]
    key, vertex = m["key"], m["vertex"]
    old = [bool(is_old and is_old(v)) for v in vertex]
    survivors = [_survivor(c, old, m["kept"]) for c in clusters]
    near = [
        (vertex[s], vertex[i])
        for c, s in zip(clusters, survivors, strict=True)
        if s is not None
        for i in c
        if i != s and not old[i] and key[i] != key[s]
    ]
    scores = dict(similarities(near)) if near and similarities is not None else {}
    dropped: dict[tuple[str, str], dict[str, list[int]]] = {}
    flagged: dict[tuple[str, str], list[tuple]] = {}
    rows: list[dict] = []
    removed: list[tuple[int, int, int]] = []
    counts: Counter = Counter()
    for cluster, s in zip(clusters, survivors, strict=True):
        if s is None:
            continue
        kept_split, kept_id = m["split"][s], m["doc_id"][s]
        for i in cluster:
            if i == s:
                continue
            if old[i]:
                counts["append.kept_twice"] += int(m["kept"][i])
                continue
            split, part = m["split"][i], (m["split"][i], m["period"][i])
            if flag_leakage and split != kept_split:
                flagged.setdefault(part, []).append((m["run"][i], m["row"][i], kept_id))
                counts[f"duplicates.leakage_flagged.{kept_split}->{split}"] += 1
                removed.append((vertex[i], vertex[s], 1))
                continue
            dropped.setdefault(part, {}).setdefault(m["run"][i], []).append(m["row"][i])
            removed.append((vertex[i], vertex[s], 0))
            kind = "exact" if key[i] == key[s] else "near"
            counts[f"duplicates.{kind}"] += 1
            if split == kept_split:
                counts[f"duplicates.within_split.{split}"] += 1
            else:
                counts[f"duplicates.leakage.{kept_split}->{split}"] += 1
            file_idx, _, pos = m["origin"][i].partition(":")
            row = {
                "id": m["doc_id"][i],
                "file": files[int(file_idx)],
                "position": int(pos),
                "reason": f"dedup.{kind}_duplicate",
                "timestamp": _iso(m["ts_key"][i]),
                "split": split,
                "period": part[1],
                "kept_id": kept_id,
                "kept_split": kept_split,
                "kept_timestamp": _iso(m["ts_key"][s]),
                "similarity": round(scores.get((vertex[s], vertex[i]), 1.0), 4),
            }
            if i < s:  # ranked before the copy an earlier increment kept
                counts["append.out_of_order"] += 1
                row["conflict"] = "out_of_order"
            rows.append(row)
    drops = {
        part: [(run, np.asarray(r, np.int64)) for run, r in sorted(dropped.get(part, {}).items())]
        + flagged.get(part, [])
        for part in sorted(dropped.keys() | flagged.keys())
    }
    return drops, rows, counts, np.asarray(removed, np.int64).reshape(-1, 3)


def _survivor(cluster: range, old: list[bool], kept: list[bool]) -> int | None:
    """The member a cluster keeps: the first (earliest) document an earlier increment kept,
    else the first new one."""
    first_old = next((i for i in cluster if old[i] and kept[i]), None)
    if first_old is not None:
        return first_old
    return next((i for i in cluster if not old[i]), None)


def cross_split_removals(
    evidence: list[tuple[int, list[tuple[int, float]]]],
    tables: SignatureTables,
    files: list[str],
    flag_leakage: bool = False,
) -> tuple[dict[tuple[str, str], list[tuple]], list[dict], Counter, np.ndarray]:
    """Documents of a later split as similar as ``dedup.near.cross_split_threshold`` to a
    document of an earlier split, and not already removed as a duplicate: ``(vertex,
    [(earlier vertex, similarity)])``. Each is removed (or flagged) once, naming its most
    similar earlier document (ties: the smaller vertex); drops, rows, counts and removed
    documents as ``removals`` (their survivor: -1, they join no cluster)."""
    dropped: dict[tuple[str, str], list[tuple]] = {}
    rows: list[dict] = []
    counts: Counter = Counter()
    removed = [(v, -1, int(flag_leakage)) for v, _ in evidence]
    for vertex, pairs in sorted(evidence):
        earlier, sim = min(pairs, key=lambda p: (-p[1], p[0]))
        doc = _document(tables, vertex)
        kept = _document(tables, earlier)
        part = (doc["split"], doc["period"])
        pair = f"{kept['split']}->{doc['split']}"
        if flag_leakage:
            dropped.setdefault(part, []).append((doc["run"], doc["row"], kept["doc_id"]))
            counts[f"duplicates.leakage_flagged.{pair}"] += 1
            continue
        dropped.setdefault(part, []).append((doc["run"], np.array([doc["row"]], np.int64)))
        counts[f"duplicates.cross_split.{pair}"] += 1
        file_idx, _, pos = doc["origin"].partition(":")
        rows.append(
            {
                "id": doc["doc_id"],
                "file": files[int(file_idx)],
                "position": int(pos),
                "reason": "dedup.cross_split_near",
                "timestamp": _iso(doc["ts_key"]),
                "split": doc["split"],
                "period": doc["period"],
                "kept_id": kept["doc_id"],
                "kept_split": kept["split"],
                "kept_timestamp": _iso(kept["ts_key"]),
                "similarity": round(sim, 4),
            }
        )
    removed = np.asarray(sorted(removed), np.int64).reshape(-1, 3)
    return dict(sorted(dropped.items())), rows, counts, removed


def _document(tables: SignatureTables, vertex: int) -> dict:
    table = tables[int(vertex_file(vertex))].documents(np.array([vertex], np.int64))
    return {k: v[0] for k, v in table.to_pydict().items()}


def _iso(ts_key: int) -> str | None:
    return None if ts_key == SORT_LAST else us_to_iso(ts_key)
