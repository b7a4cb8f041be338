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
    peak_pss_mb: float = 0.0  # shared pages split between the processes that map them


def _proc_field(p: psutil.Process, name: str, field: str) -> int:
    try:
        with open(f"/proc/{p.pid}/{name}") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def anon_rss(p: psutil.Process) -> int:
    """Resident anonymous memory (heap, stacks): RSS without file pages such as memory-mapped
    signature tables, which the kernel can drop and re-read at any time."""
    return _proc_field(p, "status", "RssAnon:")


def pss(p: psutil.Process) -> int:
    """Proportional set size: a page mapped by two workers counts half in each, so the tree's
    sum is the memory it really holds (summed RSS counts shared file pages once per worker)."""
    return _proc_field(p, "smaps_rollup", "Pss:")


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None) -> Measured:
    """Wall time and peak RSS / anonymous RSS summed over the command's processes."""
    peak = peak_anon = peak_child = peak_pss = 0
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd
    )
    ps = psutil.Process(proc.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_anon, peak_child, peak_pss
        while not done.is_set():
            try:
                children = ps.children(recursive=True)
                tree = [ps, *children]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
                peak_child = max([peak_child, *(p.memory_info().rss for p in children)])
                peak_anon = max(peak_anon, sum(map(anon_rss, tree)))
                peak_pss = max(peak_pss, sum(map(pss, tree)))
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
        peak_pss / 1e6,
    )
