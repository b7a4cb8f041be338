"""The console script as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import demo_config


def _curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "curate"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_demo_data_then_build_from_the_cli(tmp_path):
    r = _curate("demo-data", "d", "--docs", "300", "--seed", "3", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "d" / "ground_truth.json").exists()
    cfg = demo_config(Path("d/raw"), Path("out"))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = _curate("build", "c.yaml", "--", "--runner=FnApiRunner", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "balanced             True" in r.stdout
    stats = json.loads((tmp_path / "out" / "stats.json").read_text())
    assert f"{stats['kept']['documents']:,}" in r.stdout
    assert "apitools" not in r.stderr
    r = _curate("build", "c.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "already holds a finished corpus" in r.stderr
    r = _curate(
        "train-tokenizer",
        "c.yaml",
        "--out",
        "tok.json",
        "--vocab-size",
        "500",
        "--sample-docs",
        "100",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "tok.json").read_text())["model"]["type"] == "BPE"


def test_bad_config_exits_2_naming_the_key(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "input: {paths: [x], txt_field: body}\ntokenizer: {path: t}\noutput: {dir: o}\n"
    )
    r = _curate("build", "c.yaml", cwd=tmp_path)
    assert r.returncode == 2
    assert "input.txt_field: unknown key" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_input_is_a_clear_error(tmp_path):
    cfg = demo_config(tmp_path / "nothing-here", tmp_path / "o")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = _curate("build", "c.yaml", cwd=tmp_path)
    assert r.returncode == 2 and "matches no file" in r.stderr


def test_demo_data_sizes_it_cannot_generate_are_refused(tmp_path):
    """Found by probing: --docs 0 or 1, a negative count, or interleaved documents without the
    pairs whose images they reuse ended in a traceback."""
    from curate.cli import main

    for args, message in (
        (["--docs", "1"], "argument --docs: must be at least 2, got 1"),
        (["--pairs", "-1"], "argument --pairs: must be at least 0"),
        (["--pairs", "0", "--interleaved", "3", "--web", "0"], "reuse the pairs' images"),
    ):
        r = _curate("demo-data", "d", *args, cwd=tmp_path)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    assert main(["demo-data", str(tmp_path / "small"), "--docs", "2", "--pairs", "1",
                 "--interleaved", "1", "--web", "1"]) == 0  # fmt: skip


def test_numbers_a_command_cannot_use_are_one_line_errors(tmp_path, capsys):
    """Found by probing: train-tokenizer --vocab-size -1 ended in a traceback and 0 trained a
    257-token vocabulary; train-classifier took --epoch 0 and --lr 0 and trained nothing."""
    import pytest

    from curate.cli import main

    for args, message in (
        (["train-tokenizer", "c.yaml", "--out", "t", "--vocab-size", "-1"], "from 300 to"),
        (["train-tokenizer", "c.yaml", "--out", "t", "--sample-docs", "0"], "at least 1"),
        (["train-classifier", "--out", "m", "--held-out", "1"], "between 0 and 1"),
        (["train-classifier", "--out", "m", "--epoch", "0"], "at least 1"),
        (["train-classifier", "--out", "m", "--lr", "nan"], "must be positive"),
    ):
        with pytest.raises(SystemExit) as e:
            main(args)
        err = capsys.readouterr().err
        assert e.value.code == 2 and message in err and "Traceback" not in err, err
