"""HTML extraction in a child process, with a time and memory budget per page.

Extractors can take unbounded time on hostile pages: 50,000 nested ``<div>`` cost Resiliparse
about 30 s, and a 5 MB page costs Trafilatura 4-6 s. DataTrove's users report extractors hanging
on such pages (datatrove #75, #326). A thread cannot be stopped, so each worker process runs its
extractions in one child process. The child is started on first use with ``spawn``: forking a
process that runs gRPC threads is unsafe. The child's address space is capped at ``memory_mb``.
A page that runs past ``timeout_s`` ends the child, and the next page starts a new one. The
page's error says which budget it broke: ``ExtractTimeout`` or ``ExtractFailed``. Pickling a
page both ways costs about 0.1 ms; Trafilatura spends about 10 ms on a page.
"""

from __future__ import annotations

import multiprocessing as mp
import threading

from curate.web.html import Extracted, extract


class ExtractTimeout(RuntimeError):
    pass


class ExtractFailed(RuntimeError):
    pass


def _serve(conn, memory_mb: int) -> None:
    import resource

    if memory_mb:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            html, extractor, with_images = conn.recv()
        except EOFError:
            return
        try:
            conn.send(("ok", extract(html, extractor, with_images=with_images)))
        except BaseException as e:  # noqa: BLE001 - MemoryError too: the page's error
            conn.send(("error", f"{type(e).__name__}: {e}"[:500]))


class Sandbox:
    """One child process, started when first needed, replaced after a timeout."""

    def __init__(self, timeout_s: float, memory_mb: int = 4096):
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._proc = None
        self._conn = None
        self._lock = threading.Lock()  # a worker may run bundles on several threads

    def extract(self, html: str, extractor: str, with_images: bool = False) -> Extracted:
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self._start()
            self._conn.send((html, extractor, with_images))
            if not self._conn.poll(self.timeout_s):
                self.close()
                raise ExtractTimeout(f"extraction took longer than {self.timeout_s:g} s")
            try:
                status, value = self._conn.recv()
            except EOFError:  # the child died (its memory cap)
                self.close()
                raise ExtractFailed("the extraction process died") from None
        if status != "ok":
            raise ExtractFailed(value)
        return value

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self.memory_mb), daemon=True)
        self._proc.start()
        child.close()

    def close(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.join(5)
        if self._conn is not None:
            self._conn.close()
        self._proc = self._conn = None


_SANDBOXES: dict[tuple[float, int], Sandbox] = {}


def sandbox(timeout_s: float, memory_mb: int = 4096) -> Sandbox:
    """This process's sandbox for these budgets (one child per worker process)."""
    key = (timeout_s, memory_mb)
    if key not in _SANDBOXES:
        _SANDBOXES[key] = Sandbox(timeout_s, memory_mb)
    return _SANDBOXES[key]
