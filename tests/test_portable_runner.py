"""The build through Beam's portable job API with separate SDK worker processes, the way Flink
and Spark run Python pipelines, must give the same shards byte for byte."""

from __future__ import annotations

import os
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


@pytest.fixture
def portable_services(tmp_path):
    env = dict(os.environ)
    # the worker pool starts SDK workers with `python` from PATH: make it this interpreter
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    job_port, pool_port = _free_port(), _free_port()
    logs = [open(tmp_path / n, "w") for n in ("job.log", "pool.log")]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.portability.local_job_service_main",
                "--port",
                str(job_port),
            ],
            env=env,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "apache_beam.runners.worker.worker_pool_main",
                f"--service_port={pool_port}",
            ],
            env=env,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        _wait_for(job_port, procs[0])
        _wait_for(pool_port, procs[1])
        yield [
            "--runner=PortableRunner",
            f"--job_endpoint=localhost:{job_port}",
            "--environment_type=EXTERNAL",
            f"--environment_config=localhost:{pool_port}",
        ]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs:
            f.close()


def test_portable_runner_matches_direct_runner(demo, demo_build, portable_services, tmp_path):
    root, _ = demo
    out, stats, _ = demo_build
    out2 = tmp_path / "portable"
    stats2 = build(demo_config(root / "raw", out2), portable_services)
    assert_same_corpus((out, stats), (out2, stats2))
