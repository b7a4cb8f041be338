"""One build at a time per output directory.

On a local (or NFS) directory the lease is an exclusive ``flock`` on ``OUT/.building``: the
kernel releases it when the holding process dies, so a killed build's lease is free at once and
two builds can never both hold it (no stale-lease check, hence no race when taking one over).
The file also names the holder (host, pid) for the message a refused build prints. After the
lock is taken the file is checked to still be the one at the path: a holder that released and
unlinked it in between would otherwise leave two builds each locking a different file.

On an object store (``gs://``, ``s3://``) there is no lock: the lease is a file written and
read back (best effort; documented in docs/guarantees.md).
"""

from __future__ import annotations

import json
import os
import socket
import uuid

from apache_beam.io.filesystems import FileSystems

from curate.core.errors import BuildError
from curate.core.fileio import join, write_bytes

LEASE = ".building"


class LeaseError(BuildError):
    """Another build holds the output directory."""


class Lease:
    """``with Lease(out_dir) as lease:`` holds the directory; ``lease.token`` is unique to
    this build (it names the build's staging and work folders)."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir
        self.path = join(out_dir, LEASE)
        self.token = uuid.uuid4().hex[:16]
        self._fd: int | None = None

    def __enter__(self) -> Lease:
        body = json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "token": self.token})
        if "://" in self.out_dir:
            self._take_remote(body.encode())
        else:
            self._take_local(body.encode())
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _take_local(self, body: bytes) -> None:
        import fcntl

        os.makedirs(self.out_dir, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                where = f"process {holder.get('pid')} on {holder.get('host')}" if holder else ""
                raise LeaseError(
                    f"another build is running into {self.out_dir} ({where or 'unknown'}); "
                    "wait for it to finish"
                ) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder unlinked it after we opened it: try again
        os.ftruncate(fd, 0)
        os.pwrite(fd, body, 0)
        self._fd = fd

    def _take_remote(self, body: bytes) -> None:
        if FileSystems.exists(self.path):
            with FileSystems.open(self.path) as f:
                holder = _parse(f.read())
            raise LeaseError(
                f"another build is running into {self.out_dir} (process {holder.get('pid')} on "
                f"{holder.get('host')}), or one was killed: if none is running, delete {self.path}"
            )
        write_bytes(self.path, body)
        with FileSystems.open(self.path) as f:
            if _parse(f.read()).get("token") != self.token:
                raise LeaseError(f"another build took {self.out_dir} at the same moment")

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.unlink(self.path)  # while still locked: a waiting opener then retries
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None
        elif "://" in self.out_dir and FileSystems.exists(self.path):
            FileSystems.delete([self.path])


def _read(fd: int) -> dict:
    try:
        return _parse(os.pread(fd, 4096, 0))
    except OSError:
        return {}


def _parse(data: bytes) -> dict:
    try:
        holder = json.loads(data)
    except ValueError:
        return {}
    return holder if isinstance(holder, dict) else {}
