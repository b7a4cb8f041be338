"""Crash and resume: a build killed at a point in any stage (SIGKILL of its whole process
group, as the OOM killer or a lost machine would), then the same command, ends with the bytes
of an uninterrupted build, having redone only what it had not committed
(docs/build.md, "Crash and resume")."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import demo_config, tree_digest

EXE = str(Path(sys.executable).parent / "curate")
IN_MEMORY = ["--runner=FnApiRunner", "--direct_running_mode=in_memory"]
PARTS = ("tokens", "rejected", "quarantine", "dedup")


def _leaks(demo) -> Path:
    """Lightly edited copies of early documents, dated in the test split: near an earlier
    split's document below the near-dedup threshold, above the cross-split one."""
    root, _ = demo
    path = root / "leaks" / "leaks.jsonl"
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        src = sorted((root / "raw").glob("*.jsonl"))[0]
        docs = []
        for line in src.open(encoding="utf-8", errors="replace"):
            try:
                docs.append(json.loads(line))
            except ValueError:
                continue  # the demo's planted broken records
        docs = [d for d in docs if isinstance(d, dict) and len(str(d.get("text")).split()) > 80]
        rows = []
        for i, d in enumerate(docs[:6]):
            words = d["text"].split()
            edited = [w if k % 12 else "the" for k, w in enumerate(words)]
            rows.append({"id": f"leak-{i}", "text": " ".join(edited), "timestamp": "2023-03-01"})
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _config(demo, out: Path, **overrides) -> dict:
    """The demo corpus in units of 40 kB (each input file is several), with every stage on:
    line dedup, near dedup with a cross-split threshold, decontamination, a trained tokenizer."""
    root, _ = demo
    cfg = demo_config(root / "raw", out, **overrides)
    cfg["input"]["paths"].append(str(_leaks(demo)))
    cfg["input"]["unit_bytes"] = 40_000
    cfg["dedup"]["lines"] = {"min_docs": 3}
    cfg["dedup"]["near"]["cross_split_threshold"] = 0.4
    return cfg


def _run(cfg: dict, where: Path, *flags: str, failpoint: str | None = None):
    path = where / f"c-{hashlib.sha256(repr(cfg).encode()).hexdigest()[:8]}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ)
    env.pop("CURATE_FAILPOINT", None)
    if failpoint:
        env["CURATE_FAILPOINT"] = failpoint
    args = [EXE, "build", str(path), *flags, "--", *IN_MEMORY]
    # a session of its own: the failpoint kills the build's whole process group, not pytest
    return subprocess.run(args, env=env, capture_output=True, text=True, start_new_session=True)


def _corpus(out: Path, settings: bool = True) -> dict[str, str]:
    """Every byte that matters: shards, rejected, quarantine, dedup state, stats, manifest
    (without the config it records, with ``settings=False``)."""
    digest = tree_digest(out, PARTS)
    for name in ("stats.json", "tokenizer.json"):
        digest[name] = hashlib.sha256((out / name).read_bytes()).hexdigest()
    manifest = json.loads((out / "manifest.json").read_text())
    del manifest["config"]["output"]["dir"], manifest["config_hash"]  # where it was built
    if not settings:
        del manifest["config"]
    digest["manifest.json"] = hashlib.sha256(json.dumps(manifest).encode()).hexdigest()
    return digest


@pytest.fixture(scope="module")
def reference(demo, tmp_path_factory):
    """The uninterrupted build, and the same corpus built with the default unit size."""
    where = tmp_path_factory.mktemp("resume_ref")
    out = where / "out"
    r = _run(_config(demo, out), where)
    assert r.returncode == 0, r.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["balance"]["balanced"] and stats["duplicates"]["cross_split"], stats
    return where, _corpus(out)


def test_unit_size_does_not_change_a_byte(demo, reference, tmp_path):
    """Units are cut where readers can start again: one unit per file or many, same corpus."""
    cfg = _config(demo, tmp_path / "out")
    cfg["input"]["unit_bytes"] = 64_000_000
    r = _run(cfg, tmp_path)
    assert r.returncode == 0, r.stderr
    assert _corpus(tmp_path / "out", settings=False) == _corpus(reference[0] / "out", False)


# at least one point in every stage: the tokenizer, line dedup's scan and its buckets, the
# main pass (a unit's files written but not its record; a file half done), exact dedup, LSH
# candidates, pair verification, the star rounds, survivors, cross-split copies, shards, the
# saved dedup state, and the two steps of publishing
KILL_POINTS = [
    "tokenizer:1",
    "scan:3",
    "lines:2",
    "process:2:before",
    "process:5",
    "exact:3",
    "bands:5",
    "verify:2",
    "cc:60",
    "remove:4",
    "cross:1",
    "shards:2",
    "state:3",
    "publish:1",
    "publish:2",
]


@pytest.mark.parametrize("point", KILL_POINTS)
def test_killed_at_a_point_then_the_same_command_gives_the_same_bytes(
    demo, reference, tmp_path, point
):
    cfg = _config(demo, tmp_path / "out")
    killed = _run(cfg, tmp_path, failpoint=point)
    assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
    assert not (tmp_path / "out" / "manifest.json").exists() or point.startswith("publish")
    again = _run(cfg, tmp_path)
    assert again.returncode == 0, again.stderr
    assert _corpus(tmp_path / "out") == reference[1]
    if point.startswith("publish"):
        assert "published now" in again.stderr
    elif point != "tokenizer:1":
        assert "curate: resuming: " in again.stderr, again.stderr
    assert not (tmp_path / "out" / ".staging").exists()  # saved work goes with publishing


def test_status_restart_and_what_changed_are_said(demo, reference, tmp_path):
    """--status shows what is saved without running; a changed setting or input says so, in
    one line per cause, and redoes what it must; --restart discards everything."""
    cfg = _config(demo, tmp_path / "out")
    assert _run(cfg, tmp_path, failpoint="process:6").returncode == -signal.SIGKILL
    status = _run(cfg, tmp_path, "--status")
    work = tmp_path / "out" / ".staging" / "_work" / "commits" / "process"
    units = len(list(work.glob("*-*.json")))  # the sixth commit may close a file
    assert status.returncode == 0 and f"main pass: {units} of ~" in status.stdout, status.stdout
    assert "input files:" in status.stdout and "partly done" in status.stdout

    other = dict(cfg, filters=[{"gopher_quality": {"min_words": 60}}])
    changed = _run(other, tmp_path, failpoint="process:3")
    assert changed.returncode == -signal.SIGKILL
    assert "curate: saved work not reused: config changed: filters" in changed.stderr
    units = len(list(work.glob("*-*.json")))
    said = _run(other, tmp_path, failpoint="process:4").stderr
    assert f"curate: resuming: {units} of ~" in said and "not reused" not in said, said
    back = _run(cfg, tmp_path)
    assert back.returncode == 0, back.stderr
    causes = [line for line in back.stderr.splitlines() if "not reused" in line]
    assert causes == [
        "curate: saved work not reused: config changed: "
        "filters ([{'gopher_quality': {'min_words': 60}}] -> [{'gopher_quality': {}}])"
    ], back.stderr
    assert _corpus(tmp_path / "out") == reference[1]

    restarted = _run(cfg, tmp_path, "--overwrite", "--restart", failpoint="process:2")
    assert restarted.returncode == -signal.SIGKILL
    fresh = _run(cfg, tmp_path, "--overwrite", "--restart")
    assert "restarting: saved work discarded" in fresh.stderr and "resuming" not in fresh.stderr
    assert _corpus(tmp_path / "out") == reference[1]


def test_a_damaged_saved_unit_is_redone_never_used(demo, reference, tmp_path):
    """A run file flipped on disk after its unit committed, and a commit record cut short:
    both units are redone (the build says how many), the corpus is the same."""
    cfg = _config(demo, tmp_path / "out")
    assert _run(cfg, tmp_path, failpoint="process:7").returncode == -signal.SIGKILL
    work = tmp_path / "out" / ".staging" / "_work"
    run = sorted((work / "runs").rglob("*.arrow"))[0]
    data = bytearray(run.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run.write_bytes(bytes(data))
    record = sorted((work / "commits" / "process").glob("*-00001.json"))[0]
    record.write_bytes(record.read_bytes()[:50])
    again = _run(cfg, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "saved units were damaged on disk" in again.stderr, again.stderr
    assert _corpus(tmp_path / "out") == reference[1]


def test_a_changed_input_redoes_its_own_units(demo, reference, tmp_path):
    """An input file changed between the kill and the rerun: the build names it and redoes
    its units; the corpus is the one a fresh build of the changed inputs gives."""
    import shutil

    root, _ = demo
    raw = tmp_path / "raw"
    shutil.copytree(root / "raw", raw)
    cfg = _config(demo, tmp_path / "out")
    cfg["input"]["paths"] = [str(raw / "*")]
    assert _run(cfg, tmp_path, failpoint="process:9").returncode == -signal.SIGKILL
    victim = sorted(p for p in raw.iterdir() if p.suffix == ".jsonl")[0]
    lines = victim.read_bytes().splitlines(keepends=True)
    victim.write_bytes(b"".join(lines[: len(lines) // 2]))
    again = _run(cfg, tmp_path)
    assert again.returncode == 0, again.stderr
    assert f"input {victim} changed since its units were saved: redone" in again.stderr
    fresh = dict(cfg, output={**cfg["output"], "dir": str(tmp_path / "fresh")})
    assert _run(fresh, tmp_path).returncode == 0
    assert _corpus(tmp_path / "out") == _corpus(tmp_path / "fresh")
