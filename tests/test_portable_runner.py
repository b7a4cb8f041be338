"""The build through Beam's portable job API with separate SDK worker processes, the way Flink
and Spark run Python pipelines, must give the same shards byte for byte."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import assert_same_corpus, build, demo_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service exited early with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port}")


class Services:
    """A job server and an SDK worker pool, each in a process group of its own (the pool's
    SDK workers are its children): the cluster of a portable runner, on one machine."""

    def __init__(self, where: Path):
        env = dict(os.environ)
        env.pop("CURATE_FAILPOINT", None)
        # the worker pool starts SDK workers with `python` from PATH: make it this interpreter
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        self.job_port, self.pool_port = _free_port(), _free_port()
        self.logs = [open(where / f"{n}-{self.job_port}.log", "w") for n in ("job", "pool")]  # noqa: SIM115
        mains = [
            [
                "apache_beam.runners.portability.local_job_service_main",
                "--port",
                str(self.job_port),
            ],
            ["apache_beam.runners.worker.worker_pool_main", f"--service_port={self.pool_port}"],
        ]
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-m", *main],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            for main, log in zip(mains, self.logs, strict=True)
        ]
        _wait_for(self.job_port, self.procs[0])
        _wait_for(self.pool_port, self.procs[1])
        self.args = [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{self.job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{self.pool_port}",
        ]

    def stop(self, sig: int = signal.SIGTERM) -> None:
        for p in self.procs:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        for f in self.logs:
            f.close()


@pytest.fixture
def portable_services(tmp_path):
    services = Services(tmp_path)
    try:
        yield services.args
    finally:
        services.stop()


def test_portable_runner_matches_direct_runner(demo, demo_build, portable_services, tmp_path):
    root, _ = demo
    out, stats, _ = demo_build
    out2 = tmp_path / "portable"
    stats2 = build(demo_config(root / "raw", out2), portable_services)
    assert_same_corpus((out, stats), (out2, stats2))


def test_a_build_whose_job_server_and_workers_are_killed_resumes(demo, demo_build, tmp_path):
    """The work directory on storage every process sees, as on a cluster: the job server and
    the worker pool (with its SDK workers) are killed in the middle of the main pass; with a
    new job server and pool, the same command resumes from the units committed through Beam's
    FileSystems and writes the same corpus."""
    import yaml

    root, _ = demo
    ref, ref_stats, _ = demo_build
    out, work = tmp_path / "out", tmp_path / "shared-work"
    cfg = demo_config(root / "raw", out, input={"unit_bytes": 40_000})
    cfg["output"]["work_dir"] = str(work)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    exe = str(Path(sys.executable).parent / "curate")
    first = Services(tmp_path)
    try:
        build = subprocess.Popen(
            [exe, "build", str(path), "--", *first.args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while len(list(work.glob("*/commits/process/*-*.json"))) < 4:
            assert build.poll() is None, build.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        first.stop(signal.SIGKILL)
    try:
        _, err = build.communicate(timeout=120)
    except subprocess.TimeoutExpired:  # a driver waiting on a dead job server: kill it too
        os.killpg(build.pid, signal.SIGKILL)
        _, err = build.communicate()
    assert build.returncode != 0 and not (out / "manifest.json").exists(), err
    second = Services(tmp_path)
    try:
        again = subprocess.run(
            [exe, "build", str(path), "--", *second.args], capture_output=True, text=True
        )
    finally:
        second.stop()
    assert again.returncode == 0, again.stderr
    assert "curate: resuming: " in again.stderr, again.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert_same_corpus((ref, ref_stats), (out, stats))
    assert not list(work.iterdir())  # the build's folder in the shared work_dir is gone
