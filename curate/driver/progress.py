"""A build's progress, shown while it runs: the driver polls the markers its workers leave
(``curate.stages.markers``) in a thread."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from curate.core.console import PLAIN_EVERY, clock, human_size
from curate.stages.markers import read_markers


class BuildProgress:
    """Polls a build's markers in a thread and shows them on ``stream``: a ``rich`` live
    display when it is a terminal, a plain line every ``CURATE_PROGRESS_SECONDS`` otherwise."""

    def __init__(self, work_dir: str, sizes: Sequence[int], stream: IO[str] | None = None):
        self.work_dir, self.sizes = work_dir, list(sizes)
        self.total_files, self.total_bytes = len(sizes), sum(sizes)
        self.stream = stream or sys.stderr
        self.start = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def status(self) -> dict[str, Any]:
        markers = read_markers(self.work_dir)
        read = {m["file"]: m for n, m in markers if n.startswith("read-")}
        units = [m for n, m in markers if n.startswith("unit-")]
        parts = [m for n, m in markers if n.startswith("shards-")]
        elapsed = time.monotonic() - self.start
        size = lambda f: self.sizes[f] if 0 <= f < len(self.sizes) else 0  # noqa: E731
        # a file is done, or read up to its last unit's offset (formats that seek)
        reached = {f: size(f) for f in read}
        records = sum(m["records"] for m in read.values())
        saved: dict[int, int] = {}  # per file: the bytes an earlier run of the build read
        for m in units:
            at = size(m["file"]) if m["file"] in read else (m.get("offset") or 0)
            reached[m["file"]] = max(reached.get(m["file"], 0), at)
            if m["file"] not in read:
                records += m["records"]
            if m.get("saved"):
                off = size(m["file"]) if m.get("offset") is None else m["offset"]
                saved[m["file"]] = max(saved.get(m["file"], 0), off)
        done_bytes = sum(reached.values())
        now_bytes = done_bytes - sum(saved.values())  # read by this run, not taken as saved
        if len(read) < self.total_files:
            stage = "reading, filtering, tokenizing"
        elif not parts:
            stage = "deduplicating"
        else:
            stage = "writing shards"
        eta = None
        left = self.total_bytes - done_bytes
        todo = self.total_bytes - sum(saved.values())
        # from bytes and time over the whole input, once a twentieth of this run's input is
        # read and a quarter minute has passed: the first small files say little of the rest
        if left > 0 and now_bytes >= 0.05 * todo and elapsed >= 15:
            eta = elapsed * left / now_bytes
        return {
            "stage": stage, "files": len(read), "bytes": done_bytes, "records": records,
            "rate": records / elapsed if elapsed else 0.0, "elapsed": elapsed, "eta": eta,
            "partitions": len(parts),
        }  # fmt: skip

    def line(self, s: dict[str, Any]) -> str:
        eta = f", ETA {clock(s['eta'])}" if s["eta"] is not None else ""
        parts = f", {s['partitions']} partitions written" if s["partitions"] else ""
        return (
            f"curate: {s['stage']}: {s['files']}/{self.total_files} files, "
            f"{human_size(s['bytes'])} of {human_size(self.total_bytes)}, {s['records']:,} records "
            f"({s['rate']:,.0f}/s){parts}, {clock(s['elapsed'])} elapsed{eta}"
        )

    def __enter__(self) -> BuildProgress:
        target: Callable[[], None] = self._live if self.stream.isatty() else self._plain
        self._thread = threading.Thread(target=target, name="curate-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _plain(self) -> None:
        while not self._stop.wait(PLAIN_EVERY):
            print(self.line(self.status()), file=self.stream, flush=True)

    def _live(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(file=self.stream)
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("starting", total=self.total_bytes or 1)
            while not self._stop.wait(0.5):
                s = self.status()
                bar.update(task, completed=s["bytes"], description=self.line(s)[8:])
