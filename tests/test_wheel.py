"""``pip install curate-<version>.whl`` alone, in a fresh virtual environment with no Makefile
and no editable checkout, gives a pipeline whose default filter chain (language ID included)
runs: what every cluster worker built from the wheel gets."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml

from tests.conftest import ROOT


def _run(cmd: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the wheel alone
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-3000:])
    return r


def test_the_wheel_alone_runs_the_default_filter_chain(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
          str(ROOT), "-w", str(dist)], tmp_path)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    (wheel,) = dist.glob("curate-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = next(z.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert {"filters/models/lid.176.ftz", "filters/models/NOTICE-lid.176.md"} <= names
    assert {"filters/lists/ut1_fineweb.hosts.npy", "filters/lists/NOTICE-ut1_fineweb.md"} <= names
    assert 'numba>=0.60; extra == "loader"' in meta  # the loader's compiled path
    assert not any(n.startswith(("tests/", "bench/")) for n in names)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    _run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
          str(wheel)], tmp_path)  # fmt: skip
    work = tmp_path / "work"  # away from the checkout: only the wheel can be imported
    work.mkdir()
    curate = str(venv / "bin" / "curate")
    _run([curate, "demo-data", "d", "--docs", "200", "--pairs", "0", "--interleaved", "0"], work)
    cfg = {  # no `filters:` key: the default chain, langid first
        "input": {"paths": ["d/raw/*"]},
        "tokenizer": {"train": {"vocab_size": 1000, "sample_docs": 200}},
        "output": {"dir": "out"},
    }
    (work / "c.yaml").write_text(yaml.safe_dump(cfg))
    r = _run([curate, "build", "c.yaml"], work)
    assert "balanced             True" in r.stdout
    stats = (work / "out" / "stats.json").read_text()
    assert '"langid"' in stats and '"toxicity"' in stats  # the models ran
    _run([curate, "verify", "out"], work)
    show = "import curate, filters; print(curate.__file__, filters.__file__)"
    where = _run([str(venv / "bin" / "python"), "-c", show], work)
    assert str(ROOT) not in where.stdout and str(venv) in where.stdout
    r = subprocess.run([str(venv / "bin" / "python"), "-c", "import curate.loader"],
                       cwd=work, capture_output=True, text=True, env=env)  # fmt: skip
    assert r.returncode != 0 and "pip install 'curate[loader]'" in r.stderr
