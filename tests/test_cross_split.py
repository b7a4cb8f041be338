"""``dedup.near.cross_split_threshold``: lightly edited copies of an earlier split's documents,
below the near-dedup threshold, removed from later splits only, with their own counts."""

from __future__ import annotations

import json
import random

from curate.dedup.minhash import true_jaccard
from tests.conftest import MULTI_PROCESS, build, read_jsonl_dir, read_shards

_LETTERS = random.Random(0)
# letters only: shingling folds digits, so "w1" and "w2" would be one word
VOCAB = [
    "".join(_LETTERS.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for _ in range(3000)
]


def _edited(words: list[str], share: float, rng: random.Random) -> list[str]:
    out = list(words)
    for i in rng.sample(range(len(out)), int(len(out) * share)):
        out[i] = rng.choice(VOCAB)
    return out


def _corpus(tmp_path):
    rng = random.Random(3)
    rows, copies = [], {}
    for i in range(12):
        base = [rng.choice(VOCAB) for _ in range(300)]
        rows.append({"id": f"base-{i}", "text": " ".join(base), "timestamp": "2019-03-01"})
        # test-split copies at about 0.65 and 0.3 Jaccard, a training copy at about 0.65
        for kind, share, when in (
            ("close", 0.04, "2023-03-01"),
            ("far", 0.15, "2023-04-01"),
            ("train", 0.04, "2020-05-01"),
        ):
            text = " ".join(_edited(base, share, rng))
            doc_id = f"{kind}-{i}"
            rows.append({"id": doc_id, "text": text, "timestamp": when})
            copies[doc_id] = true_jaccard(rows[-1]["text"], " ".join(base))
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, copies


def _config(path, out, near: dict, **temporal) -> dict:
    return {
        "input": {"paths": [str(path)]},
        "filters": [],
        "dedup": {"near": near, "buckets": 4},
        "tokenizer": {"train": {"vocab_size": 400, "sample_docs": 50}},
        "temporal": {
            "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
            **temporal,
        },
        "output": {"dir": str(out)},
    }


def test_later_split_copies_at_the_lower_threshold_are_removed(tmp_path):
    path, jaccard = _corpus(tmp_path)
    near = {"threshold": 0.8, "cross_split_threshold": 0.5}
    stats = build(_config(path, tmp_path / "out", near))
    rejected = {r["id"]: r for r in read_jsonl_dir(tmp_path / "out" / "rejected")}
    kept = set(read_shards(tmp_path / "out").column("doc_id").to_pylist())
    close = [d for d, j in jaccard.items() if d.startswith("close")]
    assert all(0.5 <= jaccard[d] < 0.8 for d in close)
    for doc_id in close:  # a test copy of a training document: removed, naming it
        row = rejected[doc_id]
        assert row["reason"] == "dedup.cross_split_near"
        i = doc_id.split("-")[1]
        assert row["kept_id"] in (f"base-{i}", f"train-{i}") and row["kept_split"] == "train"
        assert 0.5 <= row["similarity"] < 0.8
    for doc_id, j in jaccard.items():
        if j < 0.5 or doc_id.startswith("train"):  # below the setting, or within a split: kept
            assert doc_id in kept, (doc_id, j)
    assert stats["duplicates"]["cross_split"] == {"train->test": len(close)}
    assert stats["duplicates"]["total"] == len(close)
    assert stats["balance"]["balanced"]
    assert stats["near_dedup"]["cross_split_pairs"] >= len(close)


def test_without_the_setting_those_copies_stay(tmp_path):
    path, jaccard = _corpus(tmp_path)
    stats = build(_config(path, tmp_path / "out", {"threshold": 0.8}))
    assert stats["kept"]["documents"] == 12 + len(jaccard)
    assert stats["duplicates"]["cross_split"] == {}


def test_flag_mode_keeps_them_marked_on_two_processes(tmp_path):
    path, jaccard = _corpus(tmp_path)
    near = {"threshold": 0.8, "cross_split_threshold": 0.5}
    cfg = _config(path, tmp_path / "out", near, cross_split_duplicates="flag")
    stats = build(cfg, MULTI_PROCESS)
    close = {d for d in jaccard if d.startswith("close")}
    assert stats["kept"]["documents"] == 12 + len(jaccard)
    assert stats["duplicates"]["leakage_flagged"] == {"train->test": len(close)}
    table = read_shards(tmp_path / "out").select(["doc_id", "metadata"]).to_pylist()
    marked = {r["doc_id"] for r in table if "leaked_from" in (r["metadata"] or "")}
    assert marked == close
