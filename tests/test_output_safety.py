"""A build deletes only what it created, replaces a corpus only with a complete one, and fails
(instead of writing a wrong corpus) when its inputs or outputs change under it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curate.core.errors import BuildError
from tests.conftest import build, demo_config, tree_digest


def _small(demo, out: Path, **overrides) -> dict:
    root, _ = demo
    files = sorted((root / "raw").glob("*.jsonl"))[:2]
    cfg = demo_config(root / "raw", out, **overrides)
    cfg["input"]["paths"] = [str(f) for f in files]
    cfg["dedup"] = {"exact": True, "buckets": 4}
    return cfg


def _tree(d: Path) -> dict[str, bytes]:
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def test_work_dir_keeps_what_it_held_and_two_builds_can_share_it(demo, tmp_path):
    """Item 1 and 2: the work_dir's own files survive; each build uses (and deletes) only its
    own subfolder, so builds sharing a work_dir cannot mix their data."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    a = _small(demo, tmp_path / "a", output={"work_dir": str(victim)})
    build(a)
    assert _tree(victim) == {"precious.txt": b"keep me"}
    b = _small(demo, tmp_path / "b", output={"work_dir": str(victim)})
    b["input"]["paths"] = a["input"]["paths"][:1]
    build(b)
    ref = _small(demo, tmp_path / "ref")
    ref["input"]["paths"] = b["input"]["paths"]
    build(ref)
    assert tree_digest(tmp_path / "b") == tree_digest(tmp_path / "ref")


@pytest.mark.parametrize("where", ["input", "output", "inside_output", "holds_output"])
def test_work_dir_that_overlaps_inputs_or_output_is_refused(demo, tmp_path, where):
    root, _ = demo
    out = tmp_path / "out"
    work = {
        "input": root / "raw",
        "output": out,
        "inside_output": out / "w",
        "holds_output": tmp_path,
    }[where]
    before = _tree(root / "raw")
    with pytest.raises(BuildError, match="work_dir"):
        build(_small(demo, out, output={"work_dir": str(work)}))
    assert _tree(root / "raw") == before


def test_output_dir_with_foreign_files_is_refused_and_left_alone(demo, tmp_path):
    """Item 3: a folder holding files a build did not create (even ones named like a
    corpus's) is refused without touching them; an empty output.dir is a config error."""
    out = tmp_path / "here"
    out.mkdir()
    (out / "tokenizer.json").write_text("{}")
    (out / "rejected").mkdir()
    (out / "rejected" / "mine.jsonl").write_text("x\n")
    (out / "stats.json").write_text("{}")
    before = _tree(out)
    for overwrite in (False, True):
        with pytest.raises(BuildError, match="not empty and is not a curate corpus"):
            build(_small(demo, out), overwrite=overwrite)
        assert _tree(out) == before
    from curate.core.errors import ConfigError
    from curate.driver.config_file import parse_config

    with pytest.raises(ConfigError, match="output.dir"):
        parse_config(_small(demo, tmp_path, output={"dir": ""}))


def _cli_build(cfg: dict, tmp_path: Path, *flags: str) -> subprocess.Popen:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.Popen(
        [sys.executable, "-m", "curate.cli", "build", str(path), *flags, "--",
         "--runner=FnApiRunner", "--direct_running_mode=in_memory"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(pred, proc: subprocess.Popen, timeout: float = 120) -> None:
    end = time.time() + timeout
    while not pred():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end
        time.sleep(0.02)


def test_output_removed_during_the_build_fails_it(demo, tmp_path):
    """Item 5: ``rm -rf OUT`` while shards are written: the build fails, no manifest."""
    import shutil

    out = tmp_path / "out"
    proc = _cli_build(_small(demo, out), tmp_path)
    _wait_for(lambda: any(out.glob(".staging/tokens")), proc)
    end = time.time() + 2  # rm -rf while the build is still writing into it
    while time.time() < end and proc.poll() is None:
        shutil.rmtree(out, ignore_errors=True)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and "curate: error:" in err.splitlines()[-1], err
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("change", ["truncate", "append"])
def test_input_changed_during_the_build_fails_it(demo, tmp_path, change):
    """Item 6: an input truncated or grown after planning fails the build, naming it."""
    import shutil

    root, _ = demo
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in sorted((root / "raw").glob("*.jsonl"))[:2]:
        shutil.copy(f, raw)
    victim = sorted(raw.iterdir())[0]
    cfg = _small(demo, tmp_path / "out")
    cfg["input"]["paths"] = [str(raw / "*.jsonl")]
    proc = _cli_build(cfg, tmp_path)
    _wait_for(lambda: any((tmp_path / "out").glob(".staging")), proc)
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if change == "truncate" else data + data)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0 and f"input {victim} changed" in err, err
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_overwrite_keeps_the_old_corpus_until_the_new_one_is_complete(demo, tmp_path):
    """Item 4: a rebuild whose tokenizer is the old corpus's own file, and which fails while
    it runs (an input deleted under it), leaves the old corpus whole; a good one replaces it
    and leaves nothing of its own behind."""
    import shutil

    root, _ = demo
    raw = tmp_path / "raw"
    raw.mkdir()
    for f in sorted((root / "raw").glob("*.jsonl"))[:2]:
        shutil.copy(f, raw)
    out = tmp_path / "c"
    cfg = _small(demo, out)
    cfg["input"]["paths"] = [str(raw / "*.jsonl")]
    build(cfg)
    before = _tree(out)
    cfg["tokenizer"] = {"path": str(out / "tokenizer.json")}
    proc = _cli_build(cfg, tmp_path, "--overwrite")
    _wait_for(lambda: any(out.glob(".staging")), proc)
    victim = sorted(raw.iterdir())[0]
    data = victim.read_bytes()
    victim.unlink()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0, err
    corpus = {k: v for k, v in _tree(out).items() if not k.startswith(".staging/")}
    assert corpus == before  # the failed build's saved work waits in .staging for a rerun
    victim.write_bytes(data)
    stats = build(cfg, overwrite=True)
    assert stats["balance"]["balanced"] and (out / "manifest.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_a_directory_or_no_record_or_its_own_output_as_input_is_refused(demo, tmp_path):
    """Item 13: a directory as input, inputs that hold no record, and an output folder that
    holds an input (an --overwrite would read its own outputs) all fail."""
    root, _ = demo
    cfg = _small(demo, tmp_path / "o1")
    cfg["input"]["paths"] = [str(root / "raw")]
    with pytest.raises(BuildError, match="is a directory"):
        build(cfg)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    cfg["input"]["paths"] = [str(empty)]
    with pytest.raises(BuildError, match="no document passed.* of 0 records, none"):
        build(cfg)  # nothing to train on
    short = tmp_path / "short.jsonl"  # every record removed or quarantined: the message says why
    short.write_text('{"text": "too short", "timestamp": "2020-01-01"}\n' * 3 + "not json\n")
    cfg["input"]["paths"] = [str(short)]
    with pytest.raises(
        BuildError, match=r"of 4 records, removed\.\S+ 3, quarantined\.invalid_json 1"
    ):
        build(cfg)
    cfg["input"]["paths"] = [str(empty)]
    from tokenization.bpe import train_bpe

    tok = tmp_path / "tok.json"
    tok.write_text(train_bpe(["some words here"] * 30, 300, "<|endoftext|>").to_str())
    cfg["tokenizer"] = {"path": str(tok)}
    with pytest.raises(BuildError, match="hold no record"):
        build(cfg)
    assert not (tmp_path / "o1" / "manifest.json").exists()
    out = tmp_path / "o2"
    out.mkdir()
    inside = out / "input.jsonl"
    inside.write_bytes(sorted((root / "raw").glob("*.jsonl"))[0].read_bytes())
    cfg = _small(demo, out)
    cfg["input"]["paths"] = [str(out / "*.jsonl")]
    with pytest.raises(BuildError, match="lies inside output.dir"):
        build(cfg, overwrite=True)


def test_glob_characters_in_an_input_file_name(demo, tmp_path):
    """Item 16: ``data[1].jsonl`` is that file, not a pattern that matches nothing."""
    root, _ = demo
    odd = tmp_path / "data[1].jsonl"
    odd.write_bytes(sorted((root / "raw").glob("*.jsonl"))[0].read_bytes())
    cfg = _small(demo, tmp_path / "out")
    cfg["input"]["paths"] = [str(odd)]
    assert build(cfg)["input_records"] > 0


def test_tokenizer_with_ids_outside_its_vocabulary_is_refused(demo, tmp_path):
    """Item 11: an EOS id past the vocabulary would build a corpus no model can embed."""
    from tokenization.bpe import train_bpe

    tok = train_bpe(["hello world " * 50, "some more text here"] * 20, 300, "<|endoftext|>")
    data = json.loads(tok.to_str())
    for added in data["added_tokens"]:
        if added["content"] == "<|endoftext|>":
            added["id"] = 100_000
    data["model"]["vocab"]["<|endoftext|>"] = 100_000  # a sparse id: 280 entries
    path = tmp_path / "tok.json"
    path.write_text(json.dumps(data))
    cfg = _small(demo, tmp_path / "out")
    cfg["tokenizer"] = {"path": str(path)}
    with pytest.raises(BuildError, match="outside the vocabulary"):
        build(cfg)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_read_only_output_is_one_line(demo, tmp_path):
    """Item 16: a read-only output directory is a message, not a traceback."""
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root ignores permission bits; sysfs refuses even root
        out = Path("/sys/curate-test-output")
    proc = _cli_build(_small(demo, out / "c"), tmp_path)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert err.strip().count("\n") == 0 and err.startswith("curate: error:"), err  # no log
    assert "curate-test-output" in err or "ro" in err
