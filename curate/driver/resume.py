"""A build's saved work, seen from the driver: where it lives, whether it belongs to this
command, and what it saves (docs/build.md, "Crash and resume").

A build keeps its work in a folder of its own, named by its output directory: ``OUT/.staging``
(the corpus being built, and ``_work`` inside it) or, with ``output.work_dir``,
``WORK/curate-work-<hash of OUT>``. Beside the units' commits (``curate.stages.commits``) it
keeps ``build.json``: the settings that decide the output, curate's version, the work format,
the tokenizer and each input file's identity. Run again, the build compares them with its own
and says what changed, one line per cause: a different config, tokenizer, version or list of
inputs starts the work over; a changed input file has its own units redone (and everything
after the per-file stages). Nothing else is thrown away: each unit checks its own record.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems

from curate import __version__
from curate.core.console import human_size
from curate.core.errors import BuildError
from curate.core.fileio import delete_tree, join, write_bytes
from curate.driver.input_files import InputFile
from curate.driver.output_dir import PUBLISHING
from curate.stages.chain import file_identity
from curate.stages.commits import COMMITS, DAMAGED, WORK_FORMAT, digest
from curate.stages.config import BuildConfig

RECORD = "build.json"
PER_FILE = ("process", "scan")  # stages whose units are an input file's
# settings that do not change a build's bytes: where things are, and how work is cut up
NOT_IN_OUTPUT = {
    "input.paths",
    "output.dir",
    "output.work_dir",
    "input.unit_bytes",
    "input.batch_size",
    "output.run_bytes",
}


def work_folder(cfg: BuildConfig) -> str | None:
    """The build's own folder in ``output.work_dir``: named by its output directory, so that
    builds sharing a work_dir never read each other's units."""
    if not cfg.output.work_dir:
        return None
    return join(cfg.output.work_dir, f"curate-work-{digest(cfg.output.dir)[:16]}")


def settings(cfg: BuildConfig) -> dict[str, Any]:
    """The config, flattened, without the keys that do not change the output."""
    flat = _flat(cfg.model_dump(mode="json"))
    return {k: v for k, v in flat.items() if k not in NOT_IN_OUTPUT}


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out |= _flat(value, f"{prefix}.{key}" if prefix else key)
    return out


def identities(files: Sequence[InputFile]) -> list[str]:
    """Each input file's identity: size, time of last change, a hash of its head and tail
    (read in parallel: 128 KiB a file)."""
    with ThreadPoolExecutor(max_workers=16) as pool:
        heads = list(pool.map(file_identity, [f.path for f in files]))
    return [f"{f.mtime!r}:{h}" for f, h in zip(files, heads, strict=True)]


@dataclass
class Resumption:
    """What the driver decided about the saved work, and what to tell the person."""

    identities: list[str]
    lines: list[str] = field(default_factory=list)


def prepare(
    cfg: BuildConfig,
    files: Sequence[InputFile],
    stage: str,
    work_dir: str,
    kind: dict[str, Any],
    restart: bool = False,
    first: int = 0,
) -> Resumption:
    """Check the saved work against this build: keep what still holds, throw away what does
    not, say why; then record this build's settings. ``first``: the index of the first input
    file (an append's files follow the ones the corpus read before)."""
    ids = identities(files)
    res = Resumption(ids)
    if restart:
        _wipe(stage, work_dir)
        res.lines.append("restarting: saved work discarded")
    current = {
        "kind": kind,
        "settings": settings(cfg),
        "curate": __version__,
        "work_format": WORK_FORMAT,
        "files": [[f.path, i] for f, i in zip(files, ids, strict=True)],
    }
    saved = _read_json(join(work_dir, RECORD))
    if saved is not None and not restart:
        causes = _causes(saved, current)
        if causes:
            res.lines += [f"saved work not reused: {c}" for c in causes]
            _wipe(stage, work_dir)
        else:
            changed = _changed_files(saved, current)
            for _, path in changed[:5]:
                res.lines.append(f"input {path} changed since its units were saved: redone")
            if len(changed) > 5:
                res.lines.append(f"... and {len(changed) - 5} more changed inputs")
            if changed:
                _forget(stage, work_dir, [first + n for n, _ in changed])
    write_bytes(join(work_dir, RECORD), json.dumps(current, indent=1).encode())
    delete_tree(join(work_dir, "progress"))  # markers of an earlier run
    delete_tree(join(work_dir, DAMAGED))
    summary = saved_summary(work_dir, files, cfg.input.unit_bytes, first)
    others, seconds = _other_tasks(work_dir)
    if summary["units"] or others:
        more = f" and {others:,} tasks of other stages" if others else ""
        res.lines.append(
            f"resuming: {summary['units']:,} of ~{summary['total']:,} units done "
            f"({human_size(summary['bytes'])} of input){more}, saved "
            f"{(summary['seconds'] + seconds) / 60:.1f} min"
        )
    return res


def saved_work_note(error: BuildError, work_dir: str) -> BuildError:
    """A failed build's error, saying (when it saved any work) that the same command
    resumes it."""
    if not _listdir(join(work_dir, COMMITS)):
        return error
    return type(error)(f"{error} (work saved in {work_dir}: run the same command to resume)")


def _other_tasks(work_dir: str) -> tuple[int, float]:
    """Saved tasks outside the main pass, and the time they took."""
    count, seconds = 0, 0.0
    for stage in _listdir(join(work_dir, COMMITS)):
        if stage == "process":
            continue
        for name in _listdir(join(work_dir, COMMITS, stage)):
            if stage in PER_FILE and len(name) == len("00000.json"):
                continue  # a file's record sums its units'
            record = _read_json(join(work_dir, COMMITS, stage, name))
            if isinstance(record, dict):
                count += 1
                seconds += record.get("seconds", 0)
    return count, seconds


BUILD_KIND = {"build": True}


def append_kind(index: int, previous: bytes) -> dict:
    """What an append's saved work is for: this increment of the corpus whose manifest was
    ``previous``."""
    return {"append": index, "corpus": hashlib.sha256(previous).hexdigest()}


def same_build(cfg: BuildConfig, files: Sequence[InputFile], work_dir: str, kind: dict) -> bool:
    """Whether the saved work was made by this command (settings, kind and input list)."""
    saved = _read_json(join(work_dir, RECORD))
    if saved is None:
        return False
    paths = [p for p, _ in saved.get("files", [])]
    same = saved.get("settings") == settings(cfg) and saved.get("kind") == kind
    return same and paths == [f.path for f in files]


def check_tokenizer(work_dir: str, sha256: str) -> list[str]:
    """The tokenizer is part of every unit's fingerprint: say so when it changed."""
    path = join(work_dir, RECORD)
    record = _read_json(path) or {}
    before = record.get("tokenizer")
    record["tokenizer"] = sha256
    write_bytes(path, json.dumps(record, indent=1).encode())
    if before and before != sha256:
        return [
            f"saved work not reused: tokenizer changed (SHA-256 {before[:12]} -> {sha256[:12]})"
        ]
    return []


def damaged(work_dir: str) -> list[str]:
    """Saved units found damaged on disk (and redone) during the run."""
    folder = join(work_dir, DAMAGED)
    try:
        found = FileSystems.match([join(folder, "*.json")])[0].metadata_list
    except Exception:  # noqa: BLE001 - none
        return []
    if not found:
        return []
    return [f"{len(found)} saved units were damaged on disk (checksum or size) and were redone"]


def _causes(saved: dict, current: dict) -> list[str]:
    """Why saved work cannot be used at all: one line per cause."""
    out = []
    if saved.get("kind") != current["kind"]:
        out.append(f"it was saved by another command ({saved.get('kind')} -> {current['kind']})")
    if saved.get("curate") != current["curate"]:
        out.append(f"curate's version changed ({saved.get('curate')} -> {current['curate']})")
    if saved.get("work_format") != current["work_format"]:
        out.append("the work format changed")
    a, b = saved.get("settings", {}), current["settings"]
    differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    if differ:
        shown = ", ".join(f"{k} ({a.get(k)!r} -> {b.get(k)!r})" for k in differ[:4])
        more = f" and {len(differ) - 4} more" if len(differ) > 4 else ""
        out.append(f"config changed: {shown}{more}")
    before = [p for p, _ in saved.get("files", [])]
    after = [p for p, _ in current["files"]]
    if before != after:
        added, gone = len(set(after) - set(before)), len(set(before) - set(after))
        out.append(f"inputs changed: {added} files added, {gone} removed")
    return out


def _changed_files(saved: dict, current: dict) -> list[tuple[int, str]]:
    return [
        (n, path)
        for n, ((path, before), (_, now)) in enumerate(
            zip(saved["files"], current["files"], strict=True)
        )
        if before != now
    ]


def _forget(stage: str, work_dir: str, changed: list[int]) -> None:
    """Changed inputs: their files' units, and everything after the per-file stages (it
    reads every file), are redone; what those wrote into the stage goes first, so that no
    stale file could be published."""
    commits = join(work_dir, COMMITS)
    for name in _listdir(commits):
        if name not in PER_FILE:
            delete_tree(join(commits, name))
            continue
        for entry in _listdir(join(commits, name)):
            if entry.endswith(".json") and int(entry[:5]) in changed:
                FileSystems.delete([join(commits, name, entry)])
    for folder in ("tokens", "dedup"):
        delete_tree(join(stage, folder))
    for entry in _listdir(join(stage, "rejected")):
        if not entry.startswith("filtered-"):
            FileSystems.delete([join(stage, "rejected", entry)])


def _wipe(stage: str, work_dir: str) -> None:
    delete_tree(work_dir)
    delete_tree(stage)


def _listdir(folder: str) -> list[str]:
    """Names directly under ``folder`` (on an object store: the first part of each name
    under its prefix)."""
    if "://" not in folder:
        try:
            return sorted(os.listdir(folder))
        except OSError:
            return []
    try:
        found = FileSystems.match([join(folder, "**")])[0].metadata_list
    except Exception:  # noqa: BLE001 - no such folder
        return []
    names = {m.path[len(folder) :].lstrip("/").split("/", 1)[0] for m in found}
    return sorted(n for n in names if n)


def _read_json(path: str) -> Any:
    try:
        with FileSystems.open(path, compression_type="uncompressed") as f:
            return json.loads(f.read())
    except (OSError, ValueError):
        return None


def saved_summary(
    work_dir: str, files: Sequence[InputFile], unit_bytes: int, first: int = 0
) -> dict:
    """The main pass's saved units: how many of about how many, the input they covered and
    the time they took (``first``: the index of the first of ``files``)."""
    folder = join(work_dir, COMMITS, "process")
    by_file: dict[int, list[dict]] = {}
    whole: dict[int, dict] = {}
    for name in _listdir(folder):
        record = _read_json(join(folder, name))
        if not isinstance(record, dict) or not name.endswith(".json"):
            continue
        index = int(name[:5])
        if len(name) == len("00000.json"):
            whole[index] = record
        else:
            by_file.setdefault(index, []).append(record)
    units = total = done_bytes = 0
    seconds = 0.0
    for i, f in enumerate(files, first):
        mine = by_file.get(i, [])
        if i in whole:
            units += whole[i].get("units", len(mine))
            total += whole[i].get("units", len(mine))
            done_bytes += f.size
            seconds += whole[i].get("seconds", 0)
            continue
        chain = _prefix(mine)
        units += len(chain)
        seconds += sum(r.get("seconds", 0) for r in chain)
        if chain:
            last = chain[-1]
            end = (last.get("end") or {}).get("offset")
            done_bytes += end if end is not None else sum(r.get("input_bytes", 0) for r in chain)
        total += max(len(chain) + (0 if chain and chain[-1]["end"] is None else 1),
                     math.ceil(f.size / unit_bytes))  # fmt: skip
    return {"units": units, "total": max(total, units), "bytes": done_bytes, "seconds": seconds}


def _prefix(records: list[dict]) -> list[dict]:
    """The saved units that follow on from the file's start (a later one without its
    predecessors is not reused)."""
    by_index = {r.get("index"): r for r in records}
    out = []
    while len(out) in by_index:
        out.append(by_index[len(out)])
    return out


def describe(
    cfg: BuildConfig,
    files: Sequence[InputFile],
    stage: str,
    work_dir: str,
    kind: dict,
    first: int = 0,
) -> list[str]:
    """``curate build CONFIG --status``: what is done and pending, without running anything."""
    saved = _read_json(join(work_dir, RECORD))
    lines = [f"work folder: {work_dir} ({human_size(_size(work_dir))})"]
    if saved is None:
        return [*lines, "no saved work: the build would start from the beginning"]
    ids = identities(files)
    current = {
        "kind": kind,
        "settings": settings(cfg),
        "curate": __version__,
        "work_format": WORK_FORMAT,
        "files": [[f.path, i] for f, i in zip(files, ids, strict=True)],
    }
    causes = _causes(saved, current)
    if causes:
        return [*lines, *(f"saved work would not be reused: {c}" for c in causes)]
    changed = {first + n for n, _ in _changed_files(saved, current)}
    s = saved_summary(work_dir, files, cfg.input.unit_bytes, first)
    lines.append(
        f"main pass: {s['units']:,} of ~{s['total']:,} units done "
        f"({human_size(s['bytes'])} of input, {s['seconds'] / 60:.1f} min of work saved)"
    )
    folder = join(work_dir, COMMITS, "process")
    names = set(_listdir(folder))
    indices = range(first, first + len(files))
    done = [i for i in indices if f"{i:05d}.json" in names and i not in changed]
    started = [
        i for i in indices if i not in done and f"{i:05d}-00000.json" in names and i not in changed
    ]
    pending = len(files) - len(done) - len(started)
    lines.append(
        f"input files: {len(done):,} done, {len(started):,} partly done, {pending:,} pending"
        + (f" ({len(changed)} changed since saved: redone)" if changed else "")
    )
    for name in _listdir(join(work_dir, COMMITS)):
        if name not in PER_FILE:
            n = len(_listdir(join(work_dir, COMMITS, name)))
            lines.append(f"{_STAGE_NAMES.get(name, name)}: {n:,} tasks done")
    if _read_json(join(stage, PUBLISHING)) is not None:
        lines.append("the corpus was being published: the next run finishes that first")
    return lines


_STAGE_NAMES = {
    "tokenizer": "tokenizer training",
    "lines": "line dedup (repeated units)",
    "exact": "exact dedup (buckets)",
    "bands": "near dedup: LSH candidates (buckets)",
    "verify": "near dedup: pairs verified (files)",
    "cc": "duplicate clusters (star rounds)",
    "remove": "survivors (buckets)",
    "cross": "cross-split near copies (buckets)",
    "shards": "shards (partitions)",
    "state": "saved dedup state (files)",
}


def _size(folder: str) -> int:
    if "://" not in folder:
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)
    try:
        return sum(
            m.size_in_bytes for m in FileSystems.match([join(folder, "**")])[0].metadata_list
        )
    except Exception:  # noqa: BLE001 - nothing there
        return 0


def echo_lines(lines: Sequence[str], say: Callable[[str], None] | None) -> None:
    for line in lines:
        if say is not None:
            say(f"curate: {line}")
