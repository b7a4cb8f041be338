"""What a person at the command line sees: progress as one live ``rich`` display on a terminal,
as a plain line every ``CURATE_PROGRESS_SECONDS`` (default 10) elsewhere (CI, log files), and
Beam's own chatter kept in a log file unless ``-v``."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any

PLAIN_EVERY = float(os.environ.get("CURATE_PROGRESS_SECONDS", "10"))


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError


def clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def shard_progress(items: Sequence[Any], what: str, stream: IO[str] | None = None) -> Iterator[Any]:
    """Iterate ``items`` (a corpus's shards) showing progress: ``rich`` on a terminal, a plain
    line every ``CURATE_PROGRESS_SECONDS`` elsewhere; silent for a handful of items."""
    stream = stream or sys.stderr
    if len(items) < 8:
        yield from items
        return
    if stream.isatty():
        from rich.console import Console
        from rich.progress import track

        yield from track(items, description=what, console=Console(file=stream), transient=True)
        return
    start = last = time.monotonic()
    for i, item in enumerate(items):
        now = time.monotonic()
        if now - last >= PLAIN_EVERY:
            print(f"curate: {what}: {i}/{len(items)} shards, {clock(now - start)} elapsed",
                  file=stream, flush=True)  # fmt: skip
            last = now
        yield item


@contextlib.contextmanager
def beam_output_to_file() -> Iterator[tuple[str, IO[str]]]:
    """Send everything written to file descriptor 2 (Beam's and its worker processes' log
    lines: the workers inherit it) to a temporary log file; yields the log's path and a stream
    on the original stderr for progress and messages."""
    fd, path = tempfile.mkstemp(prefix="curate-beam-", suffix=".log")
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(fd, 2)
    os.close(fd)
    console = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield path, console
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        console.close()
