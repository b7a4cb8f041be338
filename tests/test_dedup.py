"""Survivor rule, duplicate graph and connected components, without Beam."""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pytest

from curate.core.document import SORT_LAST
from curate.dedup.clusters import band_pairs, cluster_members, exact_edges, removals
from curate.dedup.components import (
    EMPTY,
    as_edges,
    large_star,
    small_star,
    star_labels,
    symmetric,
)
from curate.dedup.drops import (
    drops_path,
    read_drops,
    read_removed,
    removed_path,
    write_drops,
    write_removed,
)
from curate.dedup.signatures import (
    Location,
    SignatureTable,
    SignatureTables,
    exact_records,
    signature_path,
    unit_table_path,
    write_signature_table,
    write_table_index,
)
from curate.stages.spill import dedup_key


def write_file_table(work: str, file_idx: int, locations, *rest, units: int = 1) -> None:
    """An input file's document table as the build writes it: one table per unit of the file
    (its rows cut into ``units`` parts), and the index that joins them."""
    cuts = np.linspace(0, len(locations), units + 1).astype(int)
    tables = []
    for u, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
        path = unit_table_path(work, file_idx, u)
        part = [x[a:b] if isinstance(x, list) else x for x in rest]
        write_signature_table(path, locations[a:b], *part)
        tables.append(path)
    write_table_index(work, file_idx, tables)


def by_bucket(edges: np.ndarray, buckets: int) -> list[np.ndarray]:
    """Edges split by their source's bucket, as the pipeline's steps receive them."""
    b = edges[:, 0] % buckets
    return [edges[b == k] for k in np.unique(b)]


def components(edges: Iterable[tuple[int, int]], buckets: int = 3, rounds: int = 64) -> dict:
    """The pipeline's rounds in one process, each step bucket by bucket: vertex -> survivor."""

    def step(star, edges):
        return np.concatenate([star(chunk) for chunk in by_bucket(edges, buckets)] + [EMPTY])

    edges = symmetric(as_edges(list(edges)))
    for _ in range(rounds):
        try:
            labels = np.concatenate([star_labels(c) for c in by_bucket(edges, buckets)])
            return dict(labels.tolist())
        except RuntimeError:
            edges = step(small_star, step(large_star, edges))
    raise RuntimeError(f"connected components did not converge in {rounds} rounds")


def _locations():
    k1, k2 = dedup_key("same text"), dedup_key("other text")
    return [
        Location((300, "c", "00000000:000000000003"), ("test", "2022-Q3"), "r2", 0, k1),
        Location((100, "b", "00000001:000000000007"), ("train", "2019-Q1"), "r1", 4, k1),
        Location((100, "a", "00000002:000000000001"), ("train", "2019-Q1"), "r3", 2, k1),
        Location((SORT_LAST, "0", "00000000:000000000009"), ("train", "undated"), "r4", 0, k1),
        Location((500, "z", "00000000:000000000001"), ("val", "2022-Q1"), "r2", 1, k2),
    ]


def _resolve(locations, work: str):
    """As the build: one document table per input file, exact records to edges, components
    named by their smallest vertex, members read back from the tables and the survivor picked
    by rank. "a" and "b" share a time: "a" wins; the undated copy sorts last."""
    for f in range(3):
        mine = [loc for loc in locations if loc.node[2].startswith(f"{f:08d}:")]
        write_file_table(work, f, mine)
    records = exact_records([loc.key for loc in locations], [loc.vertex for loc in locations])
    labels = np.array(sorted(components(exact_edges(records).tolist()).items()), np.int64)
    members = cluster_members(labels, SignatureTables(work))
    drops, rows, counts, _ = removals(members, ["f0", "f1", "f2"])
    drops = {part: [(run, r.tolist()) for run, r in entries] for part, entries in drops.items()}
    return drops, rows, counts


def test_survivor_is_earliest_then_id_whatever_the_order(tmp_path):
    expected = None
    for seed in range(20):
        locations = _locations()
        random.Random(seed).shuffle(locations)
        got = _resolve(locations, str(tmp_path / str(seed)))
        expected = expected or got
        assert got == expected
    drops, rows, counts = expected
    assert {r["id"] for r in rows} == {"b", "c", "0"}
    assert {r["kept_id"] for r in rows} == {"a"}
    assert all(r["reason"] == "dedup.exact_duplicate" and r["similarity"] == 1.0 for r in rows)
    assert counts["duplicates.exact"] == 3
    assert counts["duplicates.leakage.train->test"] == 1
    assert counts["duplicates.within_split.train"] == 2
    assert drops[("train", "2019-Q1")] == [("r1", [4])]
    assert next(r for r in rows if r["id"] == "c")["file"] == "f0"


def test_components_match_union_find_on_random_graphs():
    rng = random.Random(1)
    for _ in range(30):
        nodes = rng.sample(range(1 << 42), rng.randint(2, 120))
        edges = [tuple(rng.sample(nodes, 2)) for _ in range(rng.randint(1, 150))]
        # a long chain too: the slowest case for label propagation
        edges += list(zip(nodes[:40], nodes[1:41], strict=False))
        parent = {n: n for n in nodes}

        def find(x, parent=parent):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for u, v in edges:
            ru, rv = find(u), find(v)
            parent[max(ru, rv)] = min(ru, rv)
        labels = components(edges)
        assert set(labels) == {n for e in edges for n in e}
        for node, survivor in labels.items():
            members = [n for n in nodes if find(n) == find(node)]
            assert survivor == min(members)


def test_band_pairs_all_pairs_then_star_and_chain():
    """Documents in band buckets by ref; a bucket of up to max_bucket gets all pairs, a larger
    one a star to its first document plus a chain: linear in the bucket's size."""
    from curate.dedup.signatures import band_records, ref_of

    def key(band: int, value: int) -> bytes:
        return band.to_bytes(2, "big") + value.to_bytes(8, "big")

    refs = [ref_of(i % 3, 10 - i) for i in range(10)]
    recs = [band_records([key(0, 7), key(1, i)], ref) for i, ref in enumerate(refs[:4])]
    recs += [band_records([key(2, 7)], ref) for ref in refs[4:]]  # another band: another bucket
    recs += recs[:2]  # the same document reported twice in a band
    pairs = [tuple(p) for p in band_pairs(np.concatenate(recs), max_bucket=4).tolist()]
    small, large = sorted(refs[:4]), sorted(refs[4:])
    expected = {(small[i], small[j]) for i in range(4) for j in range(i + 1, 4)}
    expected |= {(large[0], r) for r in large[1:]}
    expected |= set(zip(large[1:], large[2:], strict=False))
    assert pairs == sorted(expected) and len(pairs) == 6 + 5 + 4
    assert len(band_pairs(np.concatenate(recs[4:5]), max_bucket=4)) == 0  # nobody to pair with


def test_signature_tables_answer_pairs_across_files(tmp_path):
    """Pairs read from two files' tables: exact Jaccard when shingles are kept, else the
    estimate; a pair reported by several bands is answered once; locations round-trip."""
    from curate.dedup.minhash import LSHParams, shingle_hashes
    from curate.dedup.signatures import ref_of

    lsh = LSHParams(num_perm=64)
    texts = {
        (10, "a", "00000000:000000000001"): "one two three four five six seven eight nine ten",
        (20, "b", "00000001:000000000004"): "one two three four five six seven eight nine eleven",
    }
    for keep in (True, False):
        work = str(tmp_path / str(keep))
        for i, (node, text) in enumerate(texts.items()):
            hv = shingle_hashes(text, 5)
            loc = Location(node, ("train", "2020-Q1"), f"run{i}", 7 + i, bytes(16))
            shingles = [hv] if keep else None
            write_file_table(work, i, [loc], [lsh.signature(text)], shingles, 64)
        tables = SignatureTables(work, max_open=1)  # evicts and reopens
        u, v = (1, (1 << 40) | 4)  # the documents' vertices
        got = list(tables.similarities([(u, v), (u, v)]))
        assert [p for p, _ in got] == [(u, v)]
        expected = 5 / 7 if keep else None  # 6 shingles each, 5 shared
        sigs = [tables[i].signature_at(0)[0] for i in (0, 1)]
        estimate = float(np.count_nonzero(sigs[0] == sigs[1])) / 64
        assert got[0][1] == (expected if keep else estimate)
        row = tables[1].documents(np.array([v])).to_pylist()[0]
        assert (row["doc_id"], row["run"], row["row"], row["split"]) == ("b", "run1", 8, "train")
        with pytest.raises(KeyError):
            tables[1].documents(np.array([u]))
        # the compact handles band records carry resolve to the documents' vertices and answer
        assert [tables.vertex(ref_of(i, 0)) for i in (0, 1)] == [(0 << 40) | 1, (1 << 40) | 4]
        assert tables.ref_similarity(ref_of(0, 0), ref_of(1, 0)) == got[0][1]


@pytest.mark.parametrize("units", [2, 5])
def test_a_table_cut_into_units_reads_as_one(tmp_path, units):
    """A file read in units has one document table per unit: joined by the index, rows,
    vertices, signatures and shingles read as from one table (a resumed build's units)."""
    from curate.dedup.minhash import LSHParams, shingle_hashes

    lsh = LSHParams(num_perm=32)
    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(50)]
    texts = [" ".join(rng.choice(words, 12)) for _ in range(23)]
    locs = [
        Location((i, f"d{i}", f"00000002:{i:012d}"), ("train", "q"), "run", i, bytes(16))
        for i in range(len(texts))
    ]
    sigs = [lsh.signature(t) for t in texts]
    shingles = [shingle_hashes(t, 5) for t in texts]
    one, cut = str(tmp_path / "one"), str(tmp_path / "cut")
    write_file_table(one, 2, locs, sigs, shingles, 32)
    write_file_table(cut, 2, locs, sigs, shingles, 32, units=units)
    a, b = SignatureTable(signature_path(one, 2)), SignatureTable(signature_path(cut, 2))
    assert b.table.column("vertex").num_chunks == units
    vertices = np.array([loc.vertex for loc in reversed(locs)], np.int64)
    assert (a.rows(vertices) == b.rows(vertices)).all()
    for row in range(len(texts)):
        (sa, ha), (sb, hb) = a.signature_at(row), b.signature_at(row)
        assert (sa == sb).all() and (ha == hb).all() and (sa == sigs[row]).all()
        assert a.vertex(row) == b.vertex(row) == locs[row].vertex
    assert a.documents(vertices).equals(b.documents(vertices).combine_chunks())


def test_star_labels_refuse_a_graph_not_yet_converged():
    chain = symmetric(as_edges([(i, i + 1) for i in range(40)]))
    with pytest.raises(RuntimeError, match="did not converge"):
        star_labels(small_star(large_star(chain)))
    assert set(components([(i, i + 1) for i in range(40)]).values()) == {0}


def test_drops_and_removed_round_trip_through_work_files(tmp_path):
    """What a removal bucket hands the shard writers and the saved state goes through files:
    each partition reads back its own drops and flags, each input file its removed rows."""
    drops = {
        ("train", "2019-Q1"): [("r1", np.array([4, 2], np.int64)), ("r3", np.array([7], np.int64))],
        ("val", "2022-Q1"): [("r2", 1, "kept-a"), ("r2", np.array([5], np.int64))],
    }
    pointers = write_drops(drops_path(str(tmp_path), "duplicates", 3), drops)
    assert [part for part, _ in pointers] == sorted(drops)
    got = {part: read_drops([p]) for part, p in pointers}
    assert got[("train", "2019-Q1")] == ({"r1": {2, 4}, "r3": {7}}, {})
    assert got[("val", "2022-Q1")] == ({"r2": {5}}, {"r2": {1: "kept-a"}})
    assert write_drops(drops_path(str(tmp_path), "duplicates", 4), {}) == []

    v = lambda f, row: (f << 40) + row  # noqa: E731  a vertex of input file f
    removed = np.array([[v(2, 1), v(0, 3), 0], [v(0, 9), v(0, 3), 1], [v(2, 4), -1, 0]])
    slices = write_removed(removed_path(str(tmp_path), "duplicates", 3), removed)
    by_file = {f: read_removed([s]) for f, s in slices}
    assert sorted(by_file) == [0, 2]
    assert by_file[0].tolist() == [[v(0, 9), v(0, 3), 1]]
    assert sorted(by_file[2].tolist()) == sorted([[v(2, 1), v(0, 3), 0], [v(2, 4), -1, 0]])
    assert read_removed([]).shape == (0, 3)
