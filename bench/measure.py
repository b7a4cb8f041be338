"""Run a command and sample the memory of its whole process tree (shared by the benchmarks)."""

from __future__ import annotations

import subprocess
import threading
import time
from dataclasses import dataclass

import psutil


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    peak_anon_mb: float
    returncode: int
    stdout: str
    stderr: str
    peak_child_rss_mb: float = 0.0  # the largest single child process (a worker)


def anon_rss(p: psutil.Process) -> int:
    """Resident anonymous memory (heap, stacks): RSS without file pages such as memory-mapped
    signature tables, which the kernel can drop and re-read at any time."""
    try:
        with open(f"/proc/{p.pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> Measured:
    """Wall time and peak RSS / anonymous RSS summed over the command's processes."""
    peak = peak_anon = peak_child = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anon, peak_child
        while not done.is_set():
            try:
                children = ps.children(recursive=True)
                tree = [ps, *children]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
                peak_child = max([peak_child, *(p.memory_info().rss for p in children)])
                peak_anon = max(peak_anon, sum(map(anon_rss, tree)))
            except psutil.Error:
                pass
            time.sleep(0.2)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    stdout, stderr = proc.communicate()
    done.set()
    th.join()
    return Measured(
        time.perf_counter() - t0,
        peak / 1e6,
        peak_anon / 1e6,
        proc.returncode,
        stdout,
        stderr,
        peak_child / 1e6,
    )
