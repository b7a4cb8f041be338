"""Local copies of a remote corpus's shards, so they can be memory-mapped like local ones.

A corpus given as a URI (``s3://``, ``gs://``, ``hdfs://``, ``file://``: any filesystem
``pyarrow.fs`` opens) is read through this cache: a shard is copied whole on first use into
``cache_dir`` (a temporary name, then an atomic rename, so concurrent workers never see half a
file and need no lock), and the least recently used copies are deleted when the cache would
exceed ``limit_bytes``. Only copies inside the cache directory are ever deleted; the source is
only read. A copy's local name is derived from a hash of its path in the corpus, never taken
from the manifest, so no manifest can make the cache write outside its folder.
"""

from __future__ import annotations

import hashlib
import os
import uuid

import pyarrow.fs as pafs

DEFAULT_LIMIT = 50 * 2**30


def default_cache_dir() -> str:
    return os.environ.get("CURATE_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "curate"))


class ShardCache:
    def __init__(self, uri: str, cache_dir: str | None = None, limit_bytes: int = DEFAULT_LIMIT):
        self.fs, self.base = pafs.FileSystem.from_uri(uri)
        key = hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]
        self.dir = os.path.join(cache_dir or default_cache_dir(), key)
        self.limit = limit_bytes
        os.makedirs(self.dir, exist_ok=True)

    def read(self, rel: str) -> bytes:
        """A small file (the manifest), read from the source every time."""
        with self.fs.open_input_stream(f"{self.base}/{rel}") as f:
            return f.read()

    def path_of(self, rel: str) -> str:
        """Where the copy of corpus file ``rel`` lives: a name derived from ``rel``."""
        return os.path.join(self.dir, hashlib.sha256(rel.encode()).hexdigest()[:32] + ".arrow")

    def discard(self, rel: str) -> None:
        """Drop a copy that failed its check, so the next use fetches it again."""
        try:
            os.remove(self.path_of(rel))
        except FileNotFoundError:
            pass

    def local(self, rel: str, size: int) -> str:
        """The local copy of ``rel`` (``size`` bytes per the manifest), fetched if needed."""
        path = self.path_of(rel)
        try:
            if os.path.getsize(path) == size:
                os.utime(path)  # most recently used
                return path
        except FileNotFoundError:  # not fetched yet, or another process just evicted it
            pass
        if size > self.limit:
            raise ValueError(
                f"{rel} is {size:,} bytes, more than the whole cache limit ({self.limit:,}); "
                "raise cache_limit"
            )
        self._make_room(size)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            with self.fs.open_input_stream(f"{self.base}/{rel}") as src, open(tmp, "wb") as dst:
                while chunk := src.read(1 << 24):
                    dst.write(chunk)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return path

    def _copies(self) -> list[tuple[float, int, str]]:
        out = []
        for dirpath, _, files in os.walk(self.dir):
            for name in files:
                if name.endswith(".arrow"):
                    p = os.path.join(dirpath, name)
                    try:
                        st = os.stat(p)
                    except FileNotFoundError:  # another worker evicted it meanwhile
                        continue
                    out.append((st.st_mtime, st.st_size, p))
        return sorted(out)

    def _make_room(self, size: int) -> None:
        copies = self._copies()
        used = sum(s for _, s, _ in copies)
        for _, s, p in copies:  # least recently used first
            if used + size <= self.limit:
                break
            try:
                os.remove(p)  # a copy another process has mapped stays readable until unmapped
            except FileNotFoundError:
                pass
            used -= s

    def used_bytes(self) -> int:
        return sum(s for _, s, _ in self._copies())
