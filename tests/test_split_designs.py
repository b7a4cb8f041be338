"""Split designs: an in-period held-out split, evaluation windows and a size-matched control
recorded in the manifest, and the loader reading them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.temporal.rules import stable_fraction
from tests.conftest import build, demo_config, read_shards


@pytest.fixture(scope="module")
def designed(demo, tmp_path_factory):
    root, _ = demo
    out = tmp_path_factory.mktemp("designs") / "corpus"
    cfg = demo_config(root / "raw", out)
    cfg["temporal"] = {
        "period": "year",
        "splits": {"train": [None, "2021-01-01"], "test": ["2021-01-01", None]},
        "held_out": {"fraction": 0.1},
        "control": True,
        "windows": {"kind": "rolling", "train_periods": 2, "eval_periods": 1},
    }
    stats = build(cfg)
    return out, stats


def test_held_out_split_takes_a_stable_tenth_of_every_period(designed):
    out, stats = designed
    assert stats["balance"]["balanced"]
    table = read_shards(out).to_pylist()
    held = [r for r in table if r["split"] == "heldout"]
    assert held and all(stable_fraction(r["doc_id"]) < 0.1 for r in held)
    assert all(stable_fraction(r["doc_id"]) >= 0.1 for r in table if r["split"] != "heldout")
    by_period = {}
    for r in table:
        by_period.setdefault(r["period"], []).append(r["split"] == "heldout")
    for period, flags in by_period.items():
        assert 0.02 < np.mean(flags) < 0.25, period  # about 10% of every period


def test_manifest_records_windows_and_the_control(designed):
    out, _ = designed
    views = json.loads((out / "manifest.json").read_text())["views"]
    periods = [str(y) for y in range(2016, 2024)]
    assert views["windows"][0] == {"name": "w000", "train": periods[:2], "eval": [periods[2]]}
    assert [w["eval"][0] for w in views["windows"]] == periods[2:]
    assert all(len(w["train"]) == 2 for w in views["windows"])  # rolling
    control = views["control"]
    assert control["for"] == "train" and "heldout" not in control["splits"]


def test_loader_reads_the_control_and_window_views(designed):
    pytest.importorskip("torch")
    from curate.loader import CorpusDataset

    out, _ = designed
    views = json.loads((out / "manifest.json").read_text())["views"]
    control = CorpusDataset(str(out), split=None, view="control", seq_len=64, shuffle=False)
    docs = sum(e["documents"] for e in control.corpus.entries)
    target = views["control"]["target_documents"]
    assert abs(docs - target) < 4 * np.sqrt(target)  # size-matched (a stable-hash sample)
    periods = {e["period"] for e in control.corpus.entries}
    assert {"2016", "2023"} <= periods  # across the whole span, not only the training years
    assert {e["split"] for e in control.corpus.entries} == {"train", "test"}
    window = CorpusDataset(str(out), split=None, view="w001:eval", seq_len=64)
    assert {e["period"] for e in window.corpus.entries} == set(views["windows"][1]["eval"])
    train = CorpusDataset(str(out), split=None, view="w001:train", seq_len=64)
    assert {e["period"] for e in train.corpus.entries} == set(views["windows"][1]["train"])
    assert "heldout" not in {e["split"] for e in train.corpus.entries}
    for bad in ("w999:eval", "train", "w001"):  # a role alone is not a view
        with pytest.raises(Exception, match="no window view"):
            CorpusDataset(str(out), split=None, view=bad).corpus.entries  # noqa: B018


def test_flag_policy_keeps_cross_split_copies_marked(demo, demo_build, tmp_path):
    root, _ = demo
    ref_out, ref_stats, _ = demo_build
    leaked = ref_stats["duplicates"]["leakage"]
    assert sum(leaked.values()) > 0  # the demo plants copies across the cutoff
    out = tmp_path / "flag"
    cfg = demo_config(root / "raw", out)
    cfg["temporal"]["cross_split_duplicates"] = "flag"
    stats = build(cfg)
    assert stats["balance"]["balanced"]
    assert stats["duplicates"]["leakage"] == {}
    assert stats["duplicates"]["leakage_flagged"] == leaked
    assert stats["kept"]["documents"] == ref_stats["kept"]["documents"] + sum(leaked.values())
    rows = read_shards(out).to_pylist()
    flagged = [r for r in rows if r["metadata"] and "leaked_from" in json.loads(r["metadata"])]
    assert len(flagged) == sum(leaked.values())
    by_id = {r["doc_id"]: r for r in rows}
    order = {"train": 0, "val": 1, "test": 2}
    for r in flagged:
        kept = by_id[json.loads(r["metadata"])["leaked_from"]]
        assert order[kept["split"]] < order[r["split"]]  # the earlier split's copy is kept too
