"""Atomic writes: a killed build never leaves a manifest naming an incomplete file, and a rerun
gives the same bytes as an uninterrupted build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from curate.fileio import AtomicWriter
from tests.conftest import build, demo_config, tree_digest


def test_aborted_writer_leaves_nothing(tmp_path):
    w = AtomicWriter(str(tmp_path / "x" / "file.bin"))
    w.write(b"partial")
    w.abort()
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    w = AtomicWriter(str(tmp_path / "y.bin"))
    w.write(b"whole")
    info = w.commit()
    assert (tmp_path / "y.bin").read_bytes() == b"whole" and info["bytes"] == 5


def test_killed_build_then_rerun_is_identical(demo, demo_build, tmp_path):
    root, _ = demo
    ref, _, _ = demo_build
    out = tmp_path / "o"
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(demo_config(root / "raw", out)))
    exe = str(Path(sys.executable).parent / "curate")
    args = [exe, "build", "c.yaml", "--", "--runner=DirectRunner"]
    for delay in (2.0, 3.0):
        p = subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if not (out / "manifest.json").exists():
            for shard in (out / "tokens").rglob("*.arrow") if (out / "tokens").exists() else []:
                with pa.memory_map(str(shard)) as f:
                    pa.ipc.open_file(f).read_all()  # every file under a final name is complete
    r = subprocess.run(args + [], cwd=tmp_path, capture_output=True, text=True)
    if "already holds" in r.stderr:  # the kill came after the manifest: nothing to recover
        r = subprocess.run(
            [exe, "build", "c.yaml", "--overwrite", "--", "--runner=DirectRunner"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
    assert r.returncode == 0, r.stderr
    assert tree_digest(out) == tree_digest(ref)


def test_a_second_build_into_a_running_ones_directory_is_refused(demo, tmp_path):
    """A build holds a lease on its output directory: a second one is refused while the
    holder lives, takes over when the holder was killed, and the lease is gone after a build."""
    import json
    import socket

    from curate.build import LEASE, BuildError

    root, _ = demo
    out = tmp_path / "out"
    out.mkdir()
    cfg = demo_config(root / "raw", out)
    lease = out / LEASE
    host = socket.gethostname()
    lease.write_text(json.dumps({"host": host, "pid": os.getpid(), "token": "x"}))
    with pytest.raises(BuildError, match="another build is running"):
        build(cfg)
    lease.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "x"}))
    with pytest.raises(BuildError, match=f"delete {lease}"):
        build(cfg)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    lease.write_text(json.dumps({"host": host, "pid": int(dead.stdout), "token": "x"}))
    stats = build(cfg)  # the killed build's lease is taken over
    assert stats["balance"]["balanced"] and not lease.exists()
