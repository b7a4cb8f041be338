"""Saved work: what a build has committed, so that the same command run again after a crash
redoes only what was not (docs/build.md, "Crash and resume").

A unit of work (a range of an input file read, filtered and tokenized; a dedup bucket; a
partition's shards) writes its files atomically, then commits: a small JSON record under
``<work>/commits/<stage>/<key>.json`` names the files it wrote with their size and SHA-256, the
elements it gave the next stages, how long it took, and its fingerprint: everything that
decides its bytes (the config keys that change output, the tokenizer, curate's version, the
work format, the input file's identity, the unit's inputs). A build finds a record and reuses
the unit only when the fingerprint is the same and every file it names is there with its
size and checksum; otherwise the unit is redone, whole. Records go through Beam's
FileSystems, so a work directory on shared storage serves a cluster's workers the same way.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import join, recording, write_bytes

COMMITS = "commits"
DAMAGED = "damaged"  # one marker per saved unit found damaged and redone (for the driver)
WORK_FORMAT = 1  # the layout of work files and records; a change redoes all saved work
FAILPOINT = "CURATE_FAILPOINT"  # tests: kill the build at a commit (docs/development.md)


def digest(*parts: Any) -> str:
    """A fingerprint of JSON-able parts (tuples as lists)."""
    data = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(data.encode()).hexdigest()


def inputs_digest(items: Iterable[Any]) -> str:
    """A fingerprint of a task's input elements, whatever order a shuffle gave them in."""
    return digest(sorted(repr(i) for i in items))


@dataclass
class Saved:
    """A committed unit: the elements it gave the next stages, and its record's fields."""

    outputs: list
    record: dict[str, Any]


class Commits:
    """The commit records of one build's work directory."""

    def __init__(self, work_dir: str):
        self.work_dir = work_dir

    def path(self, key: str) -> str:
        return join(self.work_dir, COMMITS, f"{key}.json")

    def read(self, key: str) -> dict[str, Any] | None:
        """A record as saved, unchecked; None when there is none or it cannot be parsed."""
        try:
            with FileSystems.open(self.path(key), compression_type="uncompressed") as f:
                record = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) else None

    def load(self, key: str, fingerprint: str) -> Saved | None:
        """The unit ``key`` if it was committed with ``fingerprint`` and every file it wrote
        is whole; None means: do it (again)."""
        record = self.read(key)
        if record is None or record.get("fingerprint") != fingerprint:
            return None
        bad = next((f for f in record.get("files", []) if not _whole(f)), None)
        if bad is not None:
            self._damaged(key, bad["path"])
            return None
        try:
            outputs = pickle.loads(base64.b64decode(record["outputs"]))
        except Exception:  # noqa: BLE001 - a record that does not read back is redone
            self._damaged(key, self.path(key))
            return None
        return Saved(outputs, record)

    def save(
        self,
        key: str,
        fingerprint: str,
        outputs: list,
        files: Iterable[dict],
        sync: bool = False,
        **info: Any,
    ) -> None:
        """Commit ``key``: its files are written; ``outputs`` are what it gave the next
        stages. ``sync``: the record is flushed to disk before it is renamed into place (a
        unit of an input file: much work rests on it; a small task is done again instead)."""
        stage = key.split("/", 1)[0]
        _failpoint(stage, "before", self)
        record = {
            "key": key,
            "fingerprint": fingerprint,
            "files": sorted(files, key=lambda f: f["path"]),
            **info,
            "outputs": base64.b64encode(pickle.dumps(outputs, protocol=4)).decode(),
        }
        write_bytes(self.path(key), json.dumps(record, sort_keys=True).encode(), sync)
        _failpoint(stage, "after", self)

    def drop(self, key: str) -> None:
        path = self.path(key)
        if FileSystems.exists(path):
            FileSystems.delete([path])

    def _damaged(self, key: str, path: str) -> None:
        name = key.replace("/", "_")
        write_bytes(join(self.work_dir, DAMAGED, f"{name}.json"), json.dumps([key, path]).encode())

    def cached(
        self, key: str, fingerprint: str, compute: Callable[[], Iterable[Any]], **info: Any
    ) -> list:
        """The elements of unit ``key``: saved ones when it was committed with this
        fingerprint, else ``compute()``'s, committed with the files it wrote."""
        saved = self.load(key, fingerprint)
        if saved is not None:
            return saved.outputs
        began = time.monotonic()
        with recording() as files:
            outputs = list(compute())
        seconds = round(time.monotonic() - began, 3)
        self.save(key, fingerprint, outputs, files.values(), seconds=seconds, **info)
        return outputs


def _whole(entry: dict) -> bool:
    """Whether a file a unit wrote is there with the size and SHA-256 it was written with."""
    path = entry["path"]
    h, size = hashlib.sha256(), 0
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
                size += len(chunk)
    except OSError:
        return False
    return size == entry["bytes"] and h.hexdigest() == entry["sha256"]


def failpoint(name: str) -> None:
    """``CURATE_FAILPOINT=<name>``: SIGKILL the whole process group here (a step that is no
    commit, e.g. ``publish:1``: the old corpus moved aside, the new one not yet in)."""
    if os.environ.get(FAILPOINT) == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)


def _failpoint(stage: str, when: str, commits: Commits) -> None:
    """``CURATE_FAILPOINT=<stage>:<n>[:before]``: SIGKILL the whole process group once the
    build holds ``n`` commits of ``stage`` (after the n-th is written, or, with ``before``,
    when its files are written but its record is not): a crash at a known point, for tests."""
    spec = os.environ.get(FAILPOINT)
    if not spec:
        return
    name, _, rest = spec.partition(":")
    count, _, moment = rest.partition(":")
    if name != stage or (moment or "after") != when:
        return
    folder = join(commits.work_dir, COMMITS, stage)
    try:
        done = len(FileSystems.match([join(folder, "**")])[0].metadata_list)
    except Exception:  # noqa: BLE001 - nothing there yet
        done = 0
    if done + (when == "before") >= int(count):
        os.killpg(os.getpgrp(), signal.SIGKILL)
