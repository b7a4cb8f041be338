"""Heap trimming between units of work: real glibc and Arrow calls, no mocks."""

from __future__ import annotations

import threading

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core import memory as memory


def _trim_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "curate-trim"]


def test_trimming_runs_beside_the_block_and_stops_with_it():
    with memory.trimming(interval_s=0.01):
        assert len(_trim_threads()) == 1
        for _ in range(50):  # allocate and free while it trims: nothing may break
            data = pa.array(np.arange(100_000))
            assert pc.sum(data).as_py() == 100_000 * 99_999 // 2
    assert _trim_threads() == []


def test_worker_processes_started_in_the_block_get_two_arenas(monkeypatch):
    import subprocess
    import sys

    def child_setting() -> str:
        code = "import os; print(os.environ.get('MALLOC_ARENA_MAX', 'unset'))"
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout

    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    with memory.trimming(interval_s=0.01):
        assert child_setting().strip() == "2"
    assert child_setting().strip() == "unset"  # restored for what the caller starts later
    monkeypatch.setenv("MALLOC_ARENA_MAX", "8")
    with memory.trimming(interval_s=0.01):
        assert child_setting().strip() == "8"  # a user's own setting wins
