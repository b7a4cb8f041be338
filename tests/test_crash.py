"""Atomic writes: a killed build never leaves a manifest naming an incomplete file, and a rerun
gives the same bytes as an uninterrupted build."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from curate.core.fileio import AtomicWriter
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
    args = [exe, "build", "c.yaml", "--", "--runner=FnApiRunner"]
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
            [exe, "build", "c.yaml", "--overwrite", "--", "--runner=FnApiRunner"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )
    assert r.returncode == 0, r.stderr
    assert tree_digest(out) == tree_digest(ref)


HOLD = """
import sys, time
from curate.driver.lease import Lease
with Lease(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(out: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_build_into_a_running_ones_directory_is_refused(demo, tmp_path):
    """A build holds a lease on its output directory: a second one is refused while the
    holder lives, takes over when the holder was killed, and the lease is gone after a build."""
    from curate.core.errors import BuildError
    from curate.driver.lease import LEASE

    root, _ = demo
    out = tmp_path / "out"
    cfg = demo_config(root / "raw", out)
    holder = _holder(out)
    try:
        with pytest.raises(BuildError, match=f"another build is running.*process {holder.pid}"):
            build(cfg)
    finally:
        holder.kill()
        holder.wait()
    assert (out / LEASE).exists()  # a killed holder leaves its file: the lock died with it
    stats = build(cfg)
    assert stats["balance"]["balanced"] and not (out / LEASE).exists()


TAKE = """
import sys, time
from curate.driver.lease import Lease, LeaseError
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
try:
    with Lease(sys.argv[1]):
        print("took", flush=True)
        time.sleep(5)
except LeaseError:
    print("refused", flush=True)
"""


def test_a_stale_lease_is_taken_by_exactly_one_of_many_builds(tmp_path):
    """A killed build's lease left behind, then eight builds starting at the same instant:
    exactly one takes it, in every round (taking over was a delete-then-create race)."""
    import json
    import socket

    from curate.driver.lease import LEASE

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    dead = int(dead.stdout)
    for round_ in range(3):
        out = tmp_path / f"out{round_}"
        out.mkdir()
        stale = {"host": socket.gethostname(), "pid": dead, "token": "x"}
        (out / LEASE).write_text(json.dumps(stale))
        start = time.time() + 8  # after every process imported Beam
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", TAKE, str(out), str(start)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(8)
        ]
        said = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
        assert said.count("took") == 1 and said.count("refused") == 7, said
