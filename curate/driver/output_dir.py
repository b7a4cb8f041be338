"""Where a build writes, and how a finished corpus replaces the old one.

A build never writes into the corpus directory directly: it writes into its own staging
folder ``OUT/.staging-<token>`` and, once everything the new manifest lists has been checked
(present, size, SHA-256), moves the new corpus in: the old manifest first (the directory is then
an unfinished corpus, never a mix that claims to be finished), the old corpus's own entries aside,
the new entries in, the new manifest last. A build deletes only what it created: its staging and
work folders, and the entries of the corpus it replaces. A directory that holds anything else is
refused (``check_output_dir``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable

from apache_beam.io.filesystems import FileSystems

from curate.core.errors import BuildError
from curate.core.fileio import delete_tree, join, write_bytes
from curate.driver.lease import LEASE
from curate.stages.commits import failpoint

# what a finished corpus consists of, besides the lease; nothing else is ever replaced
CORPUS_ENTRIES = (
    "tokens",
    "rejected",
    "quarantine",
    "dedup",  # the saved dedup state (curate.dedup.state)
    "increments",  # appends (curate.driver.append)
    "tokenizer.json",
    "stats.json",
    "DATACARD.md",
)
STAGING = ".staging-"  # the stages of curate builds before resumable ones (deleted)
STAGE = ".staging"  # a build's stage: its corpus as it is built, kept until published
REPLACED = ".replaced-"
PUBLISHING = "PUBLISHING.json"  # in the stage while its corpus is moved in


class OutputError(BuildError):
    """The output directory cannot be used as asked."""


def _is_corpus_manifest(path: str) -> bool:
    try:
        with FileSystems.open(path) as f:
            manifest = json.loads(f.read())
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == "curate-corpus"


def _entries(out_dir: str) -> list[str]:
    """Names directly under ``out_dir`` (local directories only; object stores: [])."""
    if "://" in out_dir:
        return []
    try:
        return sorted(os.listdir(out_dir))
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        raise OutputError(f"output.dir {out_dir} is a file, not a directory") from None


def check_output_dir(out_dir: str, overwrite: bool) -> bool:
    """Whether ``out_dir`` holds a finished corpus (to be replaced: needs ``overwrite``).
    Refuses a folder holding anything that is not a curate corpus's own entry."""
    names = [n for n in _entries(out_dir) if n not in (LEASE, STAGE) and not n.startswith(STAGING)]
    if "://" in out_dir:  # an object store: no listing, the manifest decides
        finished = FileSystems.exists(join(out_dir, "manifest.json"))
    else:
        finished = _is_corpus_manifest(join(out_dir, "manifest.json")) or any(
            n.startswith(REPLACED) and _is_corpus_manifest(join(out_dir, n, "manifest.json"))
            for n in names
        )
    if finished and not overwrite:
        raise OutputError(
            f"{out_dir} already holds a finished corpus (manifest.json); pass --overwrite to "
            "replace it (the old corpus stays until the new one is complete)"
        )
    if not finished and names:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise OutputError(
            f"{out_dir} is not empty and is not a curate corpus (it holds {shown}); choose a new "
            "or empty directory: a build never deletes files it did not create"
        )
    return finished


def clear_leftovers(out_dir: str) -> None:
    """Staging folders of killed builds of an earlier curate, which could not resume (the
    lease proves none runs)."""
    for name in _entries(out_dir):
        if name.startswith(STAGING):
            delete_tree(join(out_dir, name))


def check_written(stage: str, manifest: dict, tokenizer: bool = True) -> None:
    """Every file the manifest lists exists in ``stage`` with its size and SHA-256 (an
    append's increment reuses the corpus's tokenizer: ``tokenizer=False``), and no other file
    lies in the folders it lists files in: one left there by an earlier run of a resumed
    build is deleted, so that only what the manifest names is published."""
    listed = [*manifest["shards"], *manifest.get("records", [])]
    listed += [manifest["tokenizer"]] if tokenizer else []
    _remove_unlisted(stage, {e["path"] for e in listed})
    problems = []
    for entry in listed:
        path = join(stage, entry["path"])
        try:
            size, digest = _size_and_digest(path)
        except OSError:
            problems.append(f"{path}: missing")
            continue
        if size != entry.get("bytes", size) or digest != entry["sha256"]:
            problems.append(f"{path}: not the {entry.get('bytes', '?')} bytes written")
    if problems:
        raise OutputError(
            f"{len(problems)} of {len(listed)} written files are missing or changed (was the "
            f"output directory removed or modified during the build?): {problems[0]}"
        )


def _remove_unlisted(stage: str, listed: set[str]) -> None:
    if "://" in stage:
        return  # an object store's stage: its folders are written by this build alone
    for folder in ("tokens", "rejected", "quarantine", "dedup"):
        for d, _, names in os.walk(os.path.join(stage, folder)):
            for name in names:
                path = os.path.join(d, name)
                if os.path.relpath(path, stage).replace(os.sep, "/") not in listed:
                    os.remove(path)


def _size_and_digest(path: str) -> tuple[int, str]:
    h, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type="uncompressed") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            size += len(chunk)
    return size, h.hexdigest()


def publish(stage: str, out_dir: str) -> None:
    """Move the staged corpus into ``out_dir``, replacing the old corpus's entries: the old
    entries aside (the manifest first: from then on the directory is unfinished), the new
    ones in, the new manifest last. ``PUBLISHING.json`` in the stage says how far it got, so
    that a build killed here finishes the move when run again."""
    marker = join(stage, PUBLISHING)
    aside = join(out_dir, REPLACED + "publish")
    phase = publishing(stage)
    if phase is None:
        write_bytes(marker, json.dumps({"phase": "aside"}).encode())
        phase = "aside"
    if phase == "aside":
        old = [
            n for n in ("manifest.json", *CORPUS_ENTRIES) if FileSystems.exists(join(out_dir, n))
        ]
        if old:
            _mkdirs(aside)
        for name in old:
            _move(join(out_dir, name), join(aside, name))
        write_bytes(marker, json.dumps({"phase": "in"}).encode())
        failpoint("publish:1")
    for name in CORPUS_ENTRIES:
        if FileSystems.exists(join(stage, name)):
            _move(join(stage, name), join(out_dir, name))
            failpoint("publish:2")
    if FileSystems.exists(join(stage, "manifest.json")):
        _move(join(stage, "manifest.json"), join(out_dir, "manifest.json"))
    for name in _entries(out_dir):  # the old corpus, and any earlier replacement's leftovers
        if name.startswith(REPLACED):
            delete_tree(join(out_dir, name))
    if "://" in out_dir:
        delete_tree(aside)


def publishing(stage: str) -> str | None:
    """How far a publish into the output directory got (None: it did not start)."""
    try:
        with FileSystems.open(join(stage, PUBLISHING)) as f:
            return json.loads(f.read()).get("phase")
    except (OSError, ValueError, AttributeError):
        return None


def move_into(stage: str, out_dir: str, rel: str) -> None:
    """Move the folder ``rel`` of ``stage`` to the same place in ``out_dir``."""
    _mkdirs(join(out_dir, rel.rsplit("/", 1)[0]) if "/" in rel else out_dir)
    _move(join(stage, rel), join(out_dir, rel))


def _mkdirs(path: str) -> None:
    if "://" not in path:
        os.makedirs(path, exist_ok=True)


def _move(src: str, dst: str) -> None:
    """A file or a folder; one rename on a local disk, file by file on an object store."""
    if "://" not in src:
        os.replace(src, dst)
        return
    files = _files_under(src)
    FileSystems.rename(files, [dst + f[len(src) :] for f in files])


def _files_under(path: str) -> list[str]:
    """``path`` itself if it is a file, else the files under it (an object store's prefix)."""
    single = [m.path for m in FileSystems.match([path])[0].metadata_list]
    if single == [path]:
        return single
    return [m.path for m in FileSystems.match([path.rstrip("/") + "/**"])[0].metadata_list]


def inside(path: str, folder: str) -> bool:
    """Whether local ``path`` is ``folder`` or lies inside it (symlinks resolved)."""
    p, f = os.path.realpath(path), os.path.realpath(folder)
    return p == f or p.startswith(f.rstrip(os.sep) + os.sep)


def overlapping(a: str, b: str) -> bool:
    return inside(a, b) or inside(b, a)


def any_inside(paths: Iterable[str], folder: str) -> str | None:
    return next((p for p in paths if "://" not in p and inside(p, folder)), None)
