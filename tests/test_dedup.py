import random

from curate.dedup import resolve_bucket
from curate.process import DedupEntry, dedup_key
from curate.schema import SORT_LAST


def _entries():
    k1, k2 = dedup_key("same text"), dedup_key("other text")
    return [
        DedupEntry(k1, 300, "c", "0:3", ("test", "2022-Q3"), "r2", 0),
        DedupEntry(k1, 100, "b", "1:7", ("train", "2019-Q1"), "r1", 4),
        DedupEntry(k1, 100, "a", "2:1", ("train", "2019-Q1"), "r3", 2),  # same time: id "a" wins
        DedupEntry(k1, SORT_LAST, "0", "0:9", ("train", "undated"), "r4", 0),  # undated sorts last
        DedupEntry(k2, 500, "z", "0:1", ("val", "2022-Q1"), "r2", 1),
    ]


def test_survivor_is_earliest_then_id_whatever_the_order():
    files = ["f0", "f1", "f2"]
    expected = None
    for seed in range(20):
        entries = _entries()
        random.Random(seed).shuffle(entries)
        drops, rejected, counts = resolve_bucket(entries, files)
        got = (sorted((k, sorted(v)) for k, v in drops.items()), rejected, dict(counts))
        expected = expected or got
        assert got == expected
    drops, rejected, counts = resolve_bucket(_entries(), files)
    assert {r["id"] for r in rejected} == {"b", "c", "0"}
    assert {r["kept_id"] for r in rejected} == {"a"}
    assert counts["duplicates.exact"] == 3
    assert counts["duplicates.exact_by_split.train->test"] == 1
    assert drops[("train", "2019-Q1")] == [("r1", 4)]
    assert next(r for r in rejected if r["id"] == "c")["file"] == "f0"
