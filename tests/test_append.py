"""``curate build --append``: a corpus grown year by year equals the full build of the same
inputs; an append is refused when it would make another corpus, survives being killed, keeps
what earlier increments wrote, and the loader and ``verify`` see the chain."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from curate.driver.build import BUILD_ERRORS, run_build
from curate.driver.config_file import parse_config
from curate.format.compare import compare
from curate.format.verify import verify_corpus
from tests.conftest import IN_MEMORY, MULTI_PROCESS, build, read_jsonl_dir, tree_digest

FIRST = ("2016", "2017", "2018", "2019")
LATER = ("2020", "2021", "2022", "2023")


@pytest.fixture(scope="module")
def years(tmp_path_factory):
    from curate.demo.text import generate

    root = tmp_path_factory.mktemp("years")
    generate(root, n_docs=700, seed=11, huge_doc_bytes=1000, by_year=True)
    return root / "by_year"


def _config(paths: list[Path], out: Path, **overrides) -> dict:
    cfg = {
        "input": {"paths": [str(p) for p in paths]},
        "filters": [{"gopher_quality": {}}],
        "dedup": {"exact": True, "buckets": 8, "near": {"threshold": 0.8}},
        "tokenizer": {"train": {"vocab_size": 1000, "sample_docs": 150}},
        "temporal": {
            "period": "quarter",
            "splits": {"train": [None, "2022-01-01"], "test": ["2022-01-01", None]},
        },
        "output": {"dir": str(out)},
    }
    cfg.update(overrides)
    return cfg


def _append(cfg: dict, beam_args=IN_MEMORY) -> dict:
    return run_build(parse_config(cfg), beam_args, append=True)


def _grown(years: Path, out: Path, beam_args=IN_MEMORY) -> None:
    build(_config([years / f"{y}.jsonl" for y in FIRST], out))
    for y in LATER:
        _append(_config([years / f"{y}.jsonl"], out), beam_args)


def test_four_appends_equal_the_full_build(years, tmp_path):
    grown, full = tmp_path / "grown", tmp_path / "full"
    _grown(years, grown)
    build(_config(sorted(years.glob("*.jsonl")), full))
    assert compare(str(grown), str(full)) == []
    assert verify_corpus(str(grown)) == []
    stats = json.loads((grown / "stats.json").read_text())
    assert stats == json.loads((full / "stats.json").read_text())  # the totals, to the count
    assert stats["duplicates"]["exact"] > 0 and stats["duplicates"]["near"] > 0
    manifest = json.loads((grown / "manifest.json").read_text())
    incs = manifest["increments"]
    assert [i["path"] for i in incs] == [".", *(f"increments/{i:04d}" for i in range(1, 5))]
    assert [Path(p).name for i in incs[1:] for p in i["inputs"]] == [f"{y}.jsonl" for y in LATER]
    for inc in incs[1:]:  # each increment balances on its own
        own = json.loads((grown / inc["stats"]["path"]).read_text())
        assert own["balance"]["balanced"] and own["input_records"] > 0
    assert incs[1]["min_time"] > incs[0]["max_time"]  # the years arrive in order
    # duplicates of earlier years' documents were removed from later increments, naming them
    later = [
        r
        for i in incs[1:]
        for r in read_jsonl_dir(grown / i["path"] / "rejected")
        if r["reason"].startswith("dedup.")
    ]
    assert any(r["kept_timestamp"][:4] < r["timestamp"][:4] for r in later)
    assert not any(r.get("conflict") for r in later)


def test_line_dedup_across_appends_equals_the_full_build(years, tmp_path):
    """Boilerplate lines shared by documents of different years: kept in the earliest, cut
    from later increments' documents, as in one build."""
    line = "Subscribe to our newsletter for the latest stories from the whole region."
    src = tmp_path / "src"
    src.mkdir()
    for y in ("2018", "2019", "2020"):
        rows = [json.loads(x) for x in (years / f"{y}.jsonl").read_text().splitlines()]
        for i, row in enumerate(rows):
            if i % 3 == 0:
                row["text"] += "\n" + line
        (src / f"{y}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dedup = {"exact": True, "buckets": 8, "lines": {}, "near": {"threshold": 0.8}}
    tok = {"train": {"vocab_size": 1000, "sample_docs": 40}}  # from the first year alone
    grown, full = tmp_path / "grown", tmp_path / "full"
    build(_config([src / "2018.jsonl"], grown, dedup=dedup, tokenizer=tok))
    for y in ("2019", "2020"):
        _append(_config([src / f"{y}.jsonl"], grown, dedup=dedup, tokenizer=tok))
    build(_config(sorted(src.glob("*.jsonl")), full, dedup=dedup, tokenizer=tok))
    assert compare(str(grown), str(full)) == []
    stats = json.loads((grown / "stats.json").read_text())
    assert stats == json.loads((full / "stats.json").read_text())
    assert stats["line_dedup"]["units_removed"] > 0 and stats["append"] == {}
    assert verify_corpus(str(grown)) == []


def test_an_append_never_rewrites_what_is_there(years, tmp_path):
    out = tmp_path / "c"
    build(_config([years / f"{y}.jsonl" for y in FIRST], out))
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != "stats.json"}
    before.pop(out / "manifest.json")
    before.pop(out / "DATACARD.md")
    _append(_config([years / "2020.jsonl"], out))
    assert all(p.read_bytes() == data for p, data in before.items())
    # the loader: the whole corpus, or the corpus as it was (the same shards as before)
    from curate.loader.dataset import CorpusDataset

    old = CorpusDataset(str(out), split="train", increments=1, seq_len=64)
    new = CorpusDataset(str(out), split="train", seq_len=64)
    assert all(e.get("increment", 0) == 0 for e in old.corpus.entries)
    assert any(e.get("increment") == 1 for e in new.corpus.entries)
    assert old.fingerprint() != new.fingerprint()


def test_resume_after_an_append_with_increments(years, tmp_path):
    from curate.loader.dataset import CorpusDataset

    out = tmp_path / "c"
    build(_config([years / f"{y}.jsonl" for y in FIRST], out))
    before = CorpusDataset(str(out), split="train", seq_len=64, seed=3)
    state = before.state_dict()
    _append(_config([years / "2020.jsonl"], out))
    CorpusDataset(str(out), split="train", seq_len=64, seed=3, increments=1).load_state_dict(state)
    with pytest.raises(ValueError, match="increments="):
        CorpusDataset(str(out), split="train", seq_len=64, seed=3).load_state_dict(state)


def test_a_killed_append_leaves_the_corpus_and_reruns_to_the_same_bytes(
    years, tmp_path, monkeypatch
):
    import curate.driver.append as append

    ref, out = tmp_path / "ref", tmp_path / "c"
    for d in (ref, out):
        build(_config([years / f"{y}.jsonl" for y in FIRST], d))
    _append(_config([years / "2020.jsonl"], ref), MULTI_PROCESS)
    manifest = (out / "manifest.json").read_bytes()
    real = append.move_into

    def killed(*args):
        real(*args)  # the increment's folder is in place, the manifest not yet
        raise KeyboardInterrupt

    monkeypatch.setattr(append, "move_into", killed)
    with pytest.raises(KeyboardInterrupt):
        _append(_config([years / "2020.jsonl"], out))
    monkeypatch.undo()
    assert (out / "manifest.json").read_bytes() == manifest
    assert (out / "increments" / "0001").is_dir()
    assert verify_corpus(str(out)) == []  # the previous corpus, intact
    _append(_config([years / "2020.jsonl"], out))
    inc = "increments/0001"
    assert tree_digest(out / inc) == tree_digest(ref / inc)  # in memory and on 2 processes
    assert (out / inc / "stats.json").read_bytes() == (ref / inc / "stats.json").read_bytes()
    assert (out / "stats.json").read_bytes() == (ref / "stats.json").read_bytes()
    assert verify_corpus(str(out)) == []


def test_appends_are_refused_when_they_would_make_another_corpus(years, tmp_path):
    out = tmp_path / "c"
    with pytest.raises(BUILD_ERRORS, match="build it first"):
        _append(_config([years / "2016.jsonl"], out))
    build(_config([years / "2016.jsonl"], out))
    with pytest.raises(BUILD_ERRORS, match="nothing to append"):
        _append(_config([years / "2016.jsonl"], out))
    other = _config([years / "2017.jsonl"], out, filters=[{"c4": {}}])
    with pytest.raises(BUILD_ERRORS, match="filters"):
        _append(other)
    tok = _config([years / "2017.jsonl"], out)
    tok["tokenizer"]["train"]["vocab_size"] = 1200
    with pytest.raises(BUILD_ERRORS, match="vocab_size"):
        _append(tok)
    trained = tmp_path / "tok.json"
    trained.write_bytes((out / "tokenizer.json").read_bytes())
    named = _config([years / "2016.jsonl"], tmp_path / "named", tokenizer={"path": str(trained)})
    build(named)
    from tokenization.bpe import train_bpe

    other = train_bpe(["a different tokenizer", "for the same corpus"], 300, "<|endoftext|>")
    trained.write_text(other.to_str())  # the file the config names changed since the build
    with pytest.raises(BUILD_ERRORS, match="not the tokenizer the corpus was encoded with"):
        _append({**named, "input": {"paths": [str(years / "2017.jsonl")]}})
    assert json.loads((out / "manifest.json").read_text())["increments"][-1]["index"] == 0


def test_a_copy_that_arrives_out_of_order_is_removed_and_counted(tmp_path):
    text = " ".join(f"word{i % 97} filler{i % 13} sentence{i}" for i in range(120)) + "."
    first, late = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(json.dumps({"id": "kept", "text": text, "timestamp": "2021-05-01"}) + "\n")
    late.write_text(json.dumps({"id": "earlier", "text": text, "timestamp": "2019-05-01"}) + "\n")
    out = tmp_path / "c"
    build(_config([first], out, filters=[]))
    stats = _append(_config([late], out, filters=[]))
    assert stats["duplicates"]["exact"] == 1
    rows = read_jsonl_dir(out / "increments" / "0001" / "rejected")
    assert [(r["id"], r["kept_id"], r.get("conflict")) for r in rows] == [
        ("earlier", "kept", "out_of_order")
    ]
    total = json.loads((out / "stats.json").read_text())
    assert total["kept"]["documents"] == 1 and total["balance"]["balanced"]
    assert total["append"] == {"out_of_order": 1}


def test_verify_follows_the_chain(years, tmp_path):
    out = tmp_path / "c"
    build(_config([years / "2016.jsonl"], out))
    _append(_config([years / "2017.jsonl"], out))
    prev = out / "increments" / "0001" / "previous-manifest.json"
    data = json.loads(prev.read_text())
    data["shards"][0]["sha256"] = "0" * 64  # as if an earlier shard had been rewritten
    prev.write_text(json.dumps(data))
    problems = verify_corpus(str(out))
    assert any("SHA-256 differs from the one increment 1 recorded" in p for p in problems)
    assert any("gone or rewritten" in p for p in problems)
    shutil.rmtree(out / "increments" / "0001" / "tokens")
    assert any("missing" in p for p in verify_corpus(str(out)))


def test_verify_checks_the_totals_each_append_started_from(years, tmp_path):
    """previous-stats.json is hashed in the chain and must be the totals the increment before
    recorded: a copy rewritten with the same counts is caught too."""
    out = tmp_path / "c"
    build(_config([years / "2016.jsonl"], out))
    _append(_config([years / "2017.jsonl"], out))
    _append(_config([years / "2018.jsonl"], out))
    assert verify_corpus(str(out)) == []
    before = out / "increments" / "0002" / "previous-stats.json"
    before.write_text(json.dumps(json.loads(before.read_text()), indent=4))
    problems = verify_corpus(str(out))
    assert any("previous-stats.json: SHA-256 differs from the manifest" in p for p in problems)
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["increments"][2]["previous_stats"]  # as an older manifest: the chain still
    (out / "manifest.json").write_text(json.dumps(manifest))
    problems = verify_corpus(str(out))
    assert any("not the totals the increment before it recorded" in p for p in problems)


def test_a_sigkilled_append_then_rerun_is_identical(years, tmp_path):
    """Killed at several points (before, during and after its commit, depending on the
    machine's speed): the corpus is always readable as one of its two states, and the rerun
    gives the bytes of an uninterrupted append."""
    import subprocess
    import sys
    import time

    import yaml

    ref, out = tmp_path / "ref", tmp_path / "c"
    for d in (ref, out):
        build(_config([years / f"{y}.jsonl" for y in FIRST], d))
    _append(_config([years / "2020.jsonl"], ref))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump(_config([years / "2020.jsonl"], out)))
    args = [str(Path(sys.executable).parent / "curate"), "build", str(cfg), "--append"]
    args += ["--", *IN_MEMORY]
    for delay in (1.5, 3.0, 4.5):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.kill()
        p.wait()
        problems = verify_corpus(str(out))
        assert all("last increment's totals" in line for line in problems), problems
    r = subprocess.run(args, capture_output=True, text=True)
    assert r.returncode == 0 or "nothing to append" in r.stderr, r.stderr
    inc = "increments/0001"
    assert tree_digest(out / inc) == tree_digest(ref / inc)
    assert (out / "stats.json").read_bytes() == (ref / "stats.json").read_bytes()
    assert verify_corpus(str(out)) == []


@pytest.mark.parametrize("point", ["process:2", "shards:1", "publish:append"])
def test_an_append_killed_at_a_point_resumes_to_the_same_bytes(years, tmp_path, point):
    """An append killed inside its main pass, its shards or its commit (after the increment's
    folder moved in, before the manifest names it): the same command finishes it, reusing
    what it committed, with the bytes of an uninterrupted append."""
    import os
    import signal
    import subprocess
    import sys

    import yaml

    ref, out = tmp_path / "ref", tmp_path / "c"
    for d in (ref, out):
        build(_config([years / f"{y}.jsonl" for y in FIRST], d))
    grown = {"input": {"paths": [str(years / "2020.jsonl")], "unit_bytes": 30_000}}
    _append({**_config([years / "2020.jsonl"], ref), **grown})
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**_config([years / "2020.jsonl"], out), **grown}))
    args = [str(Path(sys.executable).parent / "curate"), "build", str(cfg), "--append"]
    args += ["--", *IN_MEMORY]
    env = {**os.environ, "CURATE_FAILPOINT": point}
    killed = subprocess.run(args, env=env, capture_output=True, text=True, start_new_session=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    env.pop("CURATE_FAILPOINT")
    again = subprocess.run(args, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    said = "committed now" if point.startswith("publish") else "curate: resuming: "
    assert said in again.stderr, again.stderr
    inc = "increments/0001"
    assert tree_digest(out / inc) == tree_digest(ref / inc)
    assert (out / "stats.json").read_bytes() == (ref / "stats.json").read_bytes()
    assert verify_corpus(str(out)) == []
