"""The errors a refused or failed build raises (a config problem, a build that cannot or did not
complete): their messages are meant for the person who ran it, and the command line prints
them as one line, without a traceback."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator


class BuildError(RuntimeError):
    pass


class ConfigError(ValueError):
    """A config problem, worded for the person who wrote the YAML."""


_ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): (.+)$", re.M)
_STAGE = re.compile(r"\[while running '([^']+)'\]")


_WORKER_EXIT = re.compile(r"Worker subprocess exited with return code (-?\d+)")


STUCK_SECONDS = 20  # after a worker died, how long the driver may take to stop


@contextlib.contextmanager
def worker_deaths(found: list[str], on_stuck: Callable[[], None] | None = None) -> Iterator[None]:
    """Collect the exit codes of SDK worker processes that died, and interrupt the build at
    the first: the single-machine runner reports a death only in its own thread, then either
    waits for the worker for ever or fails later with an unrelated queue timeout. A worker
    killed by the OOM killer would most likely be killed again; a rerun starts clean.

    The interrupt is a SIGINT to this process, repeated every few seconds (the driver may be
    inside a C call that only a later one reaches); after ``STUCK_SECONDS`` without the build
    stopping, ``on_stuck`` is called (the command line reports and exits there)."""
    previous = threading.excepthook
    done = threading.Event()

    def interrupt() -> None:
        start = time.monotonic()
        while not done.wait(3):
            if on_stuck is not None and time.monotonic() - start > STUCK_SECONDS:
                on_stuck()
                return
            os.kill(os.getpid(), signal.SIGINT)

    def hook(args: threading.ExceptHookArgs) -> None:
        m = _WORKER_EXIT.search(str(args.exc_value))
        if m:
            found.append(m.group(1))
            if len(found) == 1:  # the runner may wait for the dead worker for ever: stop it
                os.kill(os.getpid(), signal.SIGINT)  # a real signal wakes a blocked wait
                threading.Thread(target=interrupt, name="curate-stop", daemon=True).start()
        previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        done.set()
        threading.excepthook = previous


def describe_failure(exc: BaseException | None, deaths: list[str] | None = None) -> str:
    """The first cause of a failed pipeline in one line: a runner reports a worker's error as
    a RuntimeError whose text holds the worker's traceback (or chains the original error); a
    worker process that died (the OOM killer's SIGKILL) is named as such."""
    if deaths:
        code = int(deaths[0])
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        hint = " (out of memory? the kernel log says: dmesg | grep -i oom)" if code == -9 else ""
        return (
            f"a Beam worker process {how}{hint}; {len(deaths)} worker(s) died. Lower the memory "
            "per worker (fewer --direct_num_workers, smaller input.batch_size) or add memory"
        )
    chain, e = [], exc
    while e is not None and len(chain) < 20:
        chain.append(e)
        e = e.__cause__ or e.__context__
    root = chain[-1]
    text = "\n".join(str(x) for x in chain)
    stage = _STAGE.search(text)
    where = f" [in {stage.group(1).split('/')[-1]}]" if stage else ""
    if isinstance(root, OSError) and root.strerror:
        path = f" ({root.filename})" if root.filename else ""
        return f"{root.strerror}{path}{where}"
    found = _ERROR_LINE.findall(str(root)) or _ERROR_LINE.findall(text)
    if found:
        kind, message = found[0]
        message = _STAGE.sub("", message).strip()
        return f"{kind.rsplit('.', 1)[-1]}: {message}{where}"
    first = (str(root).strip().splitlines() or [type(root).__name__])[0]
    return f"{type(root).__name__}: {first}{where}"
