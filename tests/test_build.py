"""End-to-end builds of the demo corpus on Beam's FnApiRunner, checked against ground truth."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pytest
from tokenizers import Tokenizer

from curate.core.errors import BuildError
from curate.dedup.minhash import LSHParams, true_jaccard
from tests.conftest import (
    MULTI_PROCESS,
    assert_same_corpus,
    build,
    demo_config,
    read_jsonl_dir,
    read_shards,
    tree_digest,
)


def test_stats_balance_and_every_record_is_in_exactly_one_place(demo_build):
    out, stats, truth = demo_build
    assert stats["balance"]["balanced"]
    kept = read_shards(out).column("doc_id").to_pylist()
    rejected = read_jsonl_dir(out / "rejected")
    quarantined = read_jsonl_dir(out / "quarantine")
    assert len(kept) == stats["kept"]["documents"]
    assert len(rejected) == stats["removed"]["total"] + stats["duplicates"]["total"]
    assert len(quarantined) == stats["quarantined"]["total"]
    assert len(kept) + len(rejected) + len(quarantined) == stats["input_records"]
    assert len(set(kept)) == len(kept)
    places = Counter(kept) + Counter(r["id"] for r in rejected)
    planted = {i for ids in truth["planted"].values() for i in ids}
    assert all(places[i] == 1 for i in planted), "a planted document is missing or duplicated"
    assert Counter(q["kind"] for q in quarantined) == Counter(truth["broken"])
    assert all(q["error"] and q["file"] for q in quarantined)


def test_planted_duplicates_removed_in_favour_of_the_earliest(demo_build):
    out, stats, truth = demo_build
    rejected = {r["id"]: r for r in read_jsonl_dir(out / "rejected")}
    kept = set(read_shards(out).column("doc_id").to_pylist())
    for original, copy in truth["pairs"]["exact_duplicates"]:
        assert rejected[copy]["reason"] == "dedup.exact_duplicate"
        assert rejected[copy]["kept_id"] == original
        assert original in kept
    verified = stats["near_dedup"]["pairs_verified"]
    assert 0 < stats["near_dedup"]["pairs_above_threshold"] <= verified
    # near: planted pairs whose true Jaccard reaches the threshold are removed, the rest kept
    texts = _raw_texts(truth)
    expected = 0
    for original, copy in truth["pairs"]["near_duplicates"]:
        jaccard = true_jaccard(texts[original], texts[copy])
        if jaccard >= 0.8:
            expected += 1
            assert rejected[copy]["reason"] == "dedup.near_duplicate"
            assert rejected[copy]["kept_id"] == original and original in kept
            assert rejected[copy]["similarity"] == round(jaccard, 4)
        else:
            assert copy in kept
    assert expected >= len(truth["pairs"]["near_duplicates"]) // 2
    sims = [r["similarity"] for r in rejected.values() if r["reason"] == "dedup.near_duplicate"]
    assert min(sims) >= 0.8 and max(sims) < 1.0
    # nothing clean was taken for a near-duplicate
    clean = set(truth["planted"]["clean"])
    assert not [i for i, r in rejected.items() if i in clean and r["reason"].startswith("dedup")]
    d = stats["duplicates"]
    assert d["exact"] == len(truth["pairs"]["exact_duplicates"])
    assert d["near"] == expected
    assert sum(d["within_split"].values()) + sum(d["leakage"].values()) == d["total"]


def _raw_texts(truth) -> dict[str, str]:
    """Planted documents' normalized texts, read back from the demo's raw files."""
    import gzip

    import pyarrow.parquet as pq
    import zstandard

    from curate.core.normalize import normalize_text

    raw = Path(truth["raw_dir"])
    lines = []
    for p in sorted(raw.glob("*.jsonl*")):
        if p.suffix == ".zst":
            data = zstandard.ZstdDecompressor().stream_reader(p.open("rb")).read()
        elif p.suffix == ".gz":
            try:
                data = gzip.decompress(p.read_bytes())
            except EOFError:
                continue  # the truncated file holds no planted document
        else:
            data = p.read_bytes()
        lines += data.splitlines()
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    for p in raw.glob("*.parquet"):
        rows += pq.read_table(p).to_pylist()
    return {
        d["id"]: normalize_text(d["text"])
        for d in rows
        if isinstance(d, dict) and isinstance(d.get("text"), str) and "id" in d
    }


def test_no_near_duplicate_of_an_earlier_split_survives(demo_build):
    out, _, _ = demo_build
    table = read_shards(out).select(["doc_id", "split", "text"]).to_pylist()
    lsh = LSHParams()
    texts = {r["doc_id"]: r["text"] for r in table}
    sigs = {r["doc_id"]: (r["split"], lsh.signature(r["text"])) for r in table}
    buckets: dict = {}
    for doc_id, (_, sig) in sigs.items():
        for key in lsh.band_keys(sig):
            buckets.setdefault(key, []).append(doc_id)
    for ids in buckets.values():
        for i, a in enumerate(ids):
            for b in ids[i + 1 :]:
                assert true_jaccard(texts[a], texts[b]) < 0.8, (a, sigs[a][0], b, sigs[b][0])


def test_low_quality_pages_removed_with_named_reasons(demo_build):
    out, _, truth = demo_build
    reasons = {r["id"]: r["reason"] for r in read_jsonl_dir(out / "rejected")}
    for name in ("low_quality_boilerplate", "low_quality_word_salad"):
        ids = truth["planted"][name]
        assert all(reasons.get(i, "").startswith("gopher_quality.") for i in ids), name
    clean = truth["planted"]["clean"]
    assert sum(i in reasons for i in clean) / len(clean) < 0.02


def test_shards_are_plain_arrow_with_manifest_checksums(demo_build):
    out, stats, _ = demo_build
    manifest = json.loads((out / "manifest.json").read_text())
    assert (
        manifest["tokenizer"]["sha256"]
        == hashlib.sha256((out / "tokenizer.json").read_bytes()).hexdigest()
    )
    for s in manifest["shards"]:
        data = (out / s["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == s["sha256"] and len(data) == s["bytes"]
    for r in manifest["records"]:
        assert hashlib.sha256((out / r["path"]).read_bytes()).hexdigest() == r["sha256"]
    assert not (out / "_work").exists()
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    # pyarrow.dataset with Hive partitioning, no curate import needed
    ds = pads.dataset(str(out / "tokens"), format="arrow", partitioning="hive")
    table = ds.to_table()
    assert table.num_rows == stats["kept"]["documents"]
    assert table.schema.field("input_ids").type == pa.list_(pa.uint32())
    assert {"doc_id", "timestamp", "source", "split", "period", "signals"} <= set(
        table.column_names
    )
    assert sum(s["tokens"] for s in manifest["shards"]) == pa.compute.sum(table["n_tokens"]).as_py()
    assert len(manifest["shards"]) > len({(s["split"], s["period"]) for s in manifest["shards"]})


def test_tokens_splits_periods_and_order(demo_build):
    out, _, _ = demo_build
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    table = read_shards(out)
    bounds = {
        "train": (None, "2022-01-01"),
        "val": ("2022-01-01", "2022-07-01"),
        "test": ("2022-07-01", None),
    }
    rows = table.select(
        ["doc_id", "timestamp", "input_ids", "text", "split", "period", "n_tokens"]
    ).to_pylist()
    for r in rows[:300]:
        assert r["input_ids"][-1] == 0 and len(r["input_ids"]) == r["n_tokens"]
        assert tok.decode(r["input_ids"][:-1]) == r["text"]
    for r in rows:
        ts: datetime = r["timestamp"]
        lo, hi = bounds[r["split"]]
        assert (lo is None or ts.date().isoformat() >= lo) and (
            hi is None or ts.date().isoformat() < hi
        )
        assert r["period"] == f"{ts.year}-Q{(ts.month - 1) // 3 + 1}"
    manifest = json.loads((out / "manifest.json").read_text())
    for s in manifest["shards"]:
        t = read_shards_one(out / s["path"])
        keys = list(
            zip(t.column("timestamp").to_pylist(), t.column("doc_id").to_pylist(), strict=True)
        )
        assert keys == sorted(keys)
        assert s["min_time"].replace("Z", "+00:00") == keys[0][0].isoformat()


def read_shards_one(path):
    with pa.memory_map(str(path)) as f:
        return pa.ipc.open_file(f).read_all()


def test_signals_kept_for_every_document(demo_build):
    out, _, _ = demo_build
    sig = read_shards(out).column("signals").combine_chunks()
    assert sig.null_count == 0
    assert pa.compute.min(sig.field("gopher_quality.n_words")).as_py() >= 50
    rejected = [r for r in read_jsonl_dir(out / "rejected") if r["reason"].startswith("gopher")]
    assert all("gopher_quality.n_words" in r["signals"] for r in rejected)


def test_multiprocess_build_is_byte_identical(demo, demo_build, tmp_path):
    root, _ = demo
    out, stats, _ = demo_build
    out2 = tmp_path / "mp"
    assert_same_corpus((out, stats), (out2, build(demo_config(root / "raw", out2), MULTI_PROCESS)))
    m1, m2 = (json.loads((d / "manifest.json").read_text()) for d in (out, out2))
    assert m1["shards"] == m2["shards"] and m1["tokenizer"] == m2["tokenizer"]


def test_existing_corpus_is_refused_then_overwritten_identically(demo, tmp_path):
    root, _ = demo
    cfg = demo_config(root / "raw", tmp_path / "c")
    build(cfg)
    before = tree_digest(tmp_path / "c")
    with pytest.raises(BuildError, match="already holds a finished corpus"):
        build(cfg)
    (tmp_path / "c" / "tokens" / "stale.arrow").write_bytes(b"junk from a crashed build")
    build(cfg, overwrite=True)
    assert tree_digest(tmp_path / "c") == before


def test_undated_documents_kept_when_configured(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    text = "The committee and the residents talked with the mayor about the new budget. " * 8
    rows = [
        {"id": "dated", "text": text, "timestamp": "2020-02-02"},
        {"id": "undated", "text": text + " Extra."},
        {"id": "garbled", "text": text + " More.", "timestamp": "sometime"},
        {"id": "early", "text": text + " Early.", "timestamp": "2001-01-01"},
    ]
    (raw / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = demo_config(
        raw,
        tmp_path / "o",
        temporal={
            "undated": "keep",
            "undated_split": "train",
            "splits": {"train": ["2010-01-01", None]},
        },
        tokenizer={"train": {"vocab_size": 300, "sample_docs": 10}},
        dedup={"near": None},  # the texts differ by one word: near-duplicates otherwise
    )
    stats = build(cfg)
    assert stats["splits"]["train"]["periods"]["undated"]["documents"] == 2
    assert stats["removed"]["by_reason"]["temporal"]["outside_splits"] == 1
    assert stats["balance"]["balanced"]


def test_texts_without_words_are_not_near_copies_of_each_other(tmp_path):
    """Found by probing: every text without a shingle ("!!!", an emoji line) had the same
    MinHash signature, so "!!!" was removed as a near copy of "???" with similarity 1.0."""
    raw = tmp_path / "raw"
    raw.mkdir()
    texts = ["!!!", "???", "\u2764\ufe0f \u2764\ufe0f", "...", "!!!", "apple", "river"]
    rows = [{"id": str(i), "text": t, "timestamp": "2020-01-01"} for i, t in enumerate(texts)]
    (raw / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = demo_config(
        raw, tmp_path / "o", filters=[], tokenizer={"train": {"vocab_size": 300, "sample_docs": 10}}
    )
    stats = build(cfg)
    assert stats["duplicates"]["exact"] == 1 and stats["duplicates"]["near"] == 0  # the 2nd "!!!"
    assert stats["kept"]["documents"] == 6


def test_corpus_of_bad_records_balances(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    good = "The committee and the residents talked with the mayor about the new budget. " * 8
    lines = []
    for i in range(60):
        kind = i % 6
        lines.append(
            [
                json.dumps(
                    {"id": f"g{i}", "text": good + str(i), "timestamp": f"2020-01-{1 + i % 28:02d}"}
                ).encode(),
                b'{"id": "x", "text": ',
                b'{"id": "u", "text": "\xff\xfe"}',
                json.dumps({"id": f"n{i}", "text": None, "timestamp": "2020-01-01"}).encode(),
                json.dumps({"id": f"t{i}", "text": good, "timestamp": "year 2020"}).encode(),
                json.dumps([1, 2, 3]).encode(),
            ][kind]
        )
    (raw / "bad.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    cfg = demo_config(
        raw,
        tmp_path / "o",
        dedup={"near": None},
        tokenizer={"train": {"vocab_size": 300, "sample_docs": 10}},
    )
    stats = build(cfg)
    assert stats["input_records"] == 60
    assert stats["kept"]["documents"] == 10
    assert stats["quarantined"]["total"] == 50
    assert stats["quarantined"]["by_error"] == {
        "invalid_json": 10,
        "invalid_utf8": 10,
        "missing_text": 10,
        "timestamp_unparseable": 10,
        "not_an_object": 10,
    }
    assert stats["duplicates"]["total"] == 0 and stats["removed"]["total"] == 0
    assert stats["balance"]["balanced"]
