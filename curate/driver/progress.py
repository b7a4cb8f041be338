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
        read = [m for n, m in markers if n.startswith("read-")]
        parts = [m for n, m in markers if n.startswith("shards-")]
        elapsed = time.monotonic() - self.start
        done_bytes = sum(self.sizes[m["file"]] for m in read if 0 <= m["file"] < len(self.sizes))
        records = sum(m["records"] for m in read)
        if len(read) < self.total_files:
            stage = "reading, filtering, tokenizing"
        elif not parts:
            stage = "deduplicating"
        else:
            stage = "writing shards"
        eta = None
        if read and len(read) < self.total_files and done_bytes:
            eta = elapsed * (self.total_bytes - done_bytes) / done_bytes
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
