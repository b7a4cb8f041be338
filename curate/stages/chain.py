"""An input file's units of work, committed one by one: what the main pass (read, filter,
tokenize) and line dedup's scan do for each file, so that a build killed inside a large file
resumes at the first unit it had not committed (``curate.stages.commits``).

Unit ``k`` of file ``F`` commits as ``<stage>/FFFFF-kkkkk`` with where the next unit starts
(the reader's ``Resume``) and what it gave; once the last one is done, the file commits as
``<stage>/FFFFF`` with everything its units gave and the files they wrote, and the pieces
only the units needed are deleted. A rerun takes the file commit when it holds, else the
chain of unit commits up to the first missing or damaged one, and goes on from there.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import delete_files, recording
from curate.readers.records import Resume
from curate.stages.commits import Commits

HEAD_TAIL = 1 << 16  # bytes hashed at each end of an input file for its identity

Tagged = tuple[str, Any]  # (output tag, element): "main" for the main output


@dataclass
class Unit:
    """What a stage's unit hands the chain: its elements, where the next unit starts, and
    what the file's commit needs of it."""

    outputs: list[Tagged]
    end: Resume | None  # None: the file's last unit
    rows: int = 0  # documents in the dedup tables (the next unit's rows follow)
    input_bytes: int = 0
    pieces: list[dict] = field(default_factory=list)  # joined into the file's files at its end
    parts: dict[str, str] = field(default_factory=dict)  # files the file's end reads


@dataclass(frozen=True)
class Start:
    """Where a unit begins: its number, the reader's resume point, the file's rows before it."""

    index: int = 0
    resume: Resume | None = None
    first_row: int = 0


def file_identity(path: str) -> str:
    """The input file's size and a hash of its first and last 64 KiB: what a saved unit of
    that file is checked against (with its time of last change, which the driver checks)."""
    h = hashlib.sha256()
    with FileSystems.open(path, compression_type="uncompressed") as f:
        head = f.read(HEAD_TAIL)
        try:
            size = f.seek(0, 2)
            f.seek(max(size - HEAD_TAIL, len(head)))
            tail = f.read(HEAD_TAIL)
        except (OSError, ValueError):  # a stream that cannot seek: read to its end
            size, tail = len(head), b""
            while chunk := f.read(1 << 20):
                size += len(chunk)
                tail = (tail + chunk)[-HEAD_TAIL:]
    h.update(head)
    h.update(tail)
    return f"{size}:{h.hexdigest()}"


def run_chain(
    commits: Commits,
    stage: str,
    file_idx: int,
    fingerprint: str,
    units: Callable[[Start], Iterator[Unit]],
    finish: Callable[[list[dict]], list[Tagged]] | None = None,
    on_unit: Callable[[int, Unit, bool], None] | None = None,
) -> list[Tagged]:
    """The file's elements for ``stage``: saved when the file was committed with this
    fingerprint, else its saved units' and the rest's, done now. ``finish(unit records)``
    writes what the file needs once whole (its rejected and quarantine files, its table
    index) and returns the elements to add; ``on_unit(index, unit, saved)``
    is told of every unit (progress markers)."""
    name = f"{stage}/{file_idx:05d}"
    done = commits.load(name, fingerprint)
    if done is not None:
        return done.outputs
    records: list[dict] = []
    outputs: list[Tagged] = []
    start: Start | None = Start()
    while start is not None:
        saved = commits.load(f"{name}-{start.index:05d}", fingerprint)
        if saved is None:
            break
        records.append(saved.record)
        outputs += saved.outputs
        if on_unit is not None:
            on_unit(start.index, _unit_of(saved.record, saved.outputs), True)
        if saved.record["end"] is None:
            start = None
        else:
            end = Resume.from_json(saved.record["end"])
            start = Start(start.index + 1, end, saved.record["first_row"] + saved.record["rows"])
    if start is not None:
        with recording() as files:
            began = time.monotonic()
            for unit in units(start):
                record = {
                    "index": start.index,
                    "start": start.resume.as_json() if start.resume else None,
                    "end": unit.end.as_json() if unit.end else None,
                    "first_row": start.first_row,
                    "rows": unit.rows,
                    "input_bytes": unit.input_bytes,
                    "pieces": unit.pieces,
                    "parts": unit.parts,
                    "seconds": round(time.monotonic() - began, 3),
                }
                written = list(files.values())
                files.clear()
                unit_name = f"{name}-{start.index:05d}"
                commits.save(unit_name, fingerprint, unit.outputs, written, True, **record)
                record["files"] = written
                records.append(record)
                outputs += unit.outputs
                if on_unit is not None:
                    on_unit(start.index, unit, False)
                if unit.end is not None:
                    start = Start(start.index + 1, unit.end, start.first_row + unit.rows)
                began = time.monotonic()
    with recording() as joined:
        extra = finish(records) if finish is not None else []
    outputs = _merged_counts(outputs + extra)
    pieces = {p["path"] for r in records for p in r.get("pieces", [])}
    kept = [f for r in records for f in r["files"] if f["path"] not in pieces]
    seconds = sum(r.get("seconds", 0) for r in records)
    info = {"units": len(records), "input_bytes": sum(r.get("input_bytes", 0) for r in records)}
    files = [*kept, *joined.values()]
    commits.save(name, fingerprint, outputs, files, True, seconds=seconds, **info)
    delete_files(sorted(pieces))
    return outputs


def _unit_of(record: dict, outputs: list[Tagged]) -> Unit:
    end = Resume.from_json(record["end"]) if record["end"] else None
    return Unit(outputs, end, record["rows"], record.get("input_bytes", 0))


def _merged_counts(outputs: Iterable[Tagged]) -> list[Tagged]:
    """The units' counts as one element (stats are sums), the other elements as they were."""
    counts: Counter = Counter()
    out = []
    for tag, value in outputs:
        if tag == "counts":
            counts.update(value)
        else:
            out.append((tag, value))
    return [*out, ("counts", counts)] if counts else out
