"""The drift report on a demo corpus recovers what the generator planted."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from curate.drift import stats as drift
from tests.conftest import IN_MEMORY, build


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from curate.demo.text import generate
    from curate.drift.report import write_report

    root = tmp_path_factory.mktemp("drift")
    truth = generate(root / "data", n_docs=2400, seed=11, huge_doc_bytes=10_000)
    out = root / "corpus"
    build(
        {
            "input": {"paths": [str(root / "data" / "raw" / "*")], "max_doc_bytes": 2_000_000},
            # the demo's chain: word-salad pages (topic words out of their time) are removed
            "filters": [
                {"langid": {"languages": ["en"]}},
                {"gopher_repetition": {}},
                {"gopher_quality": {}},
                {"c4": {}},
                {"fineweb_quality": {}},
            ],
            "tokenizer": {"train": {"vocab_size": 2000, "sample_docs": 300}},
            "temporal": {
                "period": "year",
                "splits": {"train": [None, "2021-01-01"], "test": ["2021-01-01", None]},
            },
            "output": {"dir": str(out)},
        },
        IN_MEMORY,
    )
    rep = write_report(str(out), str(root / "report"), sample=250)
    return rep, truth, out, root / "report"


def test_divergence_grows_with_the_time_gap(report):
    rep, _, _, _ = report
    jsd = np.array(rep["jsd_unigram"])
    n = len(jsd)
    gaps = [(abs(i - j), jsd[i, j]) for i in range(n) for j in range(i + 1, n)]
    by_gap = [np.mean([v for g, v in gaps if g == k]) for k in range(1, n)]
    assert all(a < b for a, b in zip(by_gap[:3], by_gap[1:4], strict=True)), by_gap
    from scipy.stats import spearmanr

    rho = spearmanr([g for g, _ in gaps], [v for _, v in gaps])
    assert rho.statistic > 0.3 and rho.pvalue < 0.05  # topics come and go, the trend stays
    after = rep["divergence_vs_gap"]  # every later period is further from training than
    assert min(a["jsd_to_training"] for a in after) > jsd[0, 1]  # two adjacent early years


def test_novel_word_rate_spikes_where_events_were_planted(report):
    rep, truth, _, _ = report
    event_years = {str(int(t)) for t in truth["events"].values()}  # 2017, 2018, 2020, 2022
    rates = {n["period"]: n["novel_token_rate"] for n in rep["novelty"]}
    quiet = [r for p, r in rates.items() if p not in event_years and p != rep["periods"][0]]
    for year in event_years - {"2022"}:  # whole-year events
        assert rates[year] > 3 * max(quiet), (year, rates)
    assert rates["2022"] > max(quiet)  # chatgpt appears in December only
    emerging = {w: n["period"] for n in rep["novelty"] for w in n["emerging"]}
    for word, when in truth["events"].items():
        if word in emerging:
            assert emerging[word] == str(int(when)), word


def test_planted_topic_words_are_among_the_rising_terms(report):
    rep, _, _, _ = report
    rising = {t["period"]: [w for w, _ in t["rising"]] for t in rep["terms"]}
    assert {"pandemic", "covid", "lockdown"} & set(rising["2020"])
    assert {"chatgpt", "chatbot", "generative"} & set(rising["2023"])
    assert {"bitcoin", "blockchain", "cryptocurrency"} & set(rising["2017"] + rising["2018"])
    falling_2023 = [w for t in rep["terms"] if t["period"] == "2023" for w, _ in t["falling"]]
    assert not {"chatgpt", "chatbot"} & set(falling_2023)


def test_language_model_perplexity_rises_after_the_cutoff(report):
    rep, _, _, _ = report
    rows = {r["period"]: r for r in rep["degradation"]["periods"]}
    train = [r["ratio"] for r in rows.values() if r["in_training"]]
    assert abs(np.mean(train) - 1) < 0.05  # in-period held-out: the baseline
    assert rows["2023"]["ratio"] > rows["2021"]["ratio"] > 1.0
    assert rep["degradation"]["ratio_slope_per_year"] > 0
    lo, hi = rows["2023"]["ratio_95"]  # bootstrap over the period's documents
    assert 1.0 < lo <= hi
    for g in rep["divergence_vs_gap"]:
        assert 0 <= g["jsd_95"][0] <= g["jsd_95"][1] <= 1


def test_report_opens_from_disk_with_every_plot(report):
    rep, _, out, rdir = report
    page = (rdir / "index.html").read_text()
    assert rep["plots"]
    for name in rep["plots"]:
        assert f'src="{name}"' in page
        assert (rdir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = json.loads((rdir / "drift.json").read_text())
    assert saved["periods"] == rep["periods"] and "jsd_bigram" in saved
    vol = {v["period"]: v for v in rep["volume"]}
    assert all(not vol[p]["leakage_rate"] for p in ("2016", "2017", "2018"))  # nothing earlier
    assert any(vol[p]["leakage_rate"] for p in ("2021", "2022", "2023"))  # copies of training
    assert all(0 < v["filter_pass_rate"] <= 1 for v in rep["volume"])
    card = (out / "DATACARD.md").read_text()
    assert card.count("## Drift") == 1 and "<!-- drift:end -->" in card
    # the CLI rewrites the section in place
    cli = [
        sys.executable,
        "-m",
        "curate.cli",
        "drift",
        str(out),
        "--out",
        str(rdir),
        "--sample",
        "100",
    ]
    run = subprocess.run(cli, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (out / "DATACARD.md").read_text().count("## Drift") == 1


def test_changepoints_find_a_level_shift_and_not_noise():
    rng = np.random.default_rng(0)
    series = list(rng.normal(1.0, 0.02, 10)) + list(rng.normal(2.0, 0.02, 8))
    assert drift.changepoints(series) == [10]
    assert drift.changepoints(list(rng.normal(1.0, 0.02, 18))) == []


def test_equal_samples_do_not_depend_on_order():
    ids = {"a": [f"x{i}" for i in range(50)], "b": [f"y{i}" for i in range(20)]}
    s1 = drift.equal_samples(ids, None)
    s2 = drift.equal_samples({k: v[::-1] for k, v in ids.items()}, None)
    assert s1 == s2 and len(s1["a"]) == len(s1["b"]) == 20


def test_jensen_shannon_bounds():
    from collections import Counter

    a, b = Counter({"x": 3, "y": 1}), Counter({"z": 2})
    assert drift.jensen_shannon(a, a) == 0
    assert drift.jensen_shannon(a, b) == pytest.approx(1.0)


def test_training_example_adds_a_rising_loss_curve_to_the_report(report):
    from tests.conftest import ROOT

    rep, _, out, rdir = report
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_drift.py"), str(out), "--report",
         str(rdir), "--steps", "120", "--eval-batches", "4", "--seq-len", "64"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    saved = json.loads((rdir / "drift.json").read_text())
    loss = {r["period"]: r["loss"] for r in saved["model_loss"]["periods"]}
    train = [loss[p] for p in ("2016", "2017", "2018", "2019", "2020")]
    assert loss["2023"] > max(train)  # the unseen chatbot topic
    assert 'src="model_loss.png"' in (rdir / "index.html").read_text()


def test_periods_far_apart_are_easier_to_tell_apart(report):
    rep, _, _, _ = report
    auc = np.array(rep["separability"]["pairwise_auc"], dtype=float)
    n = len(auc)
    near = np.nanmean([auc[i, i + 1] for i in range(n - 1)])
    far = np.nanmean([auc[i, j] for i in range(n) for j in range(i + 4, n)])
    assert far > near + 0.1 and far > 0.75, (near, far)
    assert np.nanmin(auc) >= 0 and np.nanmax(auc) <= 1


def test_report_does_not_depend_on_the_hash_seed(report, tmp_path):
    """Ties among words and float sums must not follow Python's salted set order."""
    import os

    _, _, out, _ = report
    saved = []
    for seed in ("1", "2"):
        rdir = tmp_path / f"r{seed}"
        cli = [sys.executable, "-m", "curate.cli", "drift", str(out), "--out", str(rdir)]
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run(cli, capture_output=True, text=True, timeout=300, env=env)
        assert run.returncode == 0, run.stderr[-2000:]
        saved.append((rdir / "drift.json").read_bytes())
    assert saved[0] == saved[1]


def test_training_split_is_train_or_the_earliest():
    from curate.temporal.rules import training_split

    assert training_split({"test": ["2020-01-01", None], "train": [None, "2020-01-01"]}) == "train"
    splits = {"late": ["2020-01-01T00:00:00Z", None], "early": [None, "2020-01-01T00:00:00Z"]}
    assert training_split(splits) == "early"  # an open start is the earliest
    splits = {"b": ["2021-01-01T00:00:00Z", None], "a": ["2019-01-01T00:00:00Z", "2021-01-01"]}
    assert training_split(splits) == "a"


def test_a_tiny_corpus_with_a_wordless_period_gets_a_report_of_strict_json(tmp_path):
    """Found by probing: a corpus whose training periods hold too few documents for a held-out
    set, and a period whose only document has no word, crashed `curate drift` (a division by
    zero) or wrote NaN, which strict JSON readers refuse. Undefined figures are null."""
    from curate.drift.report import write_report

    words = "the river runs past the old mill and the children play by the water"
    docs = [(words, "2020-01-05"), (words + " today", "2020-01-20"), ("!!! ??? ...", "2020-02-03")]
    docs += [(f"{words} {w}", "2020-03-09") for w in ("again", "once more")]
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t, "timestamp": ts}) + "\n" for t, ts in docs))
    out = tmp_path / "corpus"
    cfg = {
        "input": {"paths": [str(src)]},
        "filters": [],
        "tokenizer": {"train": {"vocab_size": 300}},
        "temporal": {"period": "month"},
        "output": {"dir": str(out)},
    }
    assert build(cfg, IN_MEMORY)["kept"]["documents"] == 5
    write_report(str(out), str(tmp_path / "report"))

    def refuse(constant):
        raise ValueError(f"{constant} in drift.json")

    saved = json.loads((tmp_path / "report" / "drift.json").read_text(), parse_constant=refuse)
    assert saved["periods"] == ["2020-01", "2020-02", "2020-03"]
    assert saved["jsd_unigram"][0][1] is None and saved["jsd_unigram"][0][2] is not None
    base, rows = saved["degradation"]["heldout_perplexity"], saved["degradation"]["periods"]
    assert any(r["perplexity"] is None for r in rows)  # a period with no held-out document
    for r in rows:  # a ratio wherever both perplexities exist, else null
        assert (r["ratio"] is None) == (r["perplexity"] is None or base is None), rows


def test_a_sample_below_one_document_is_refused(report):
    """Found by probing: --sample -4 sliced away all but four documents of every period, and
    --sample 0 wrote a report of empty samples."""
    from curate.cli import main
    from curate.drift.report import compute

    _, _, out, root = report
    for sample in (0, -4):
        with pytest.raises(ValueError, match="at least 1 document per period"):
            compute(str(out), sample)
        with pytest.raises(SystemExit):  # argparse's one-line error
            main(["drift", str(out), "--out", str(root / "x"), "--sample", str(sample)])
