"""The markers a build's workers leave in the work directory, one per finished input file and
per written partition (``progress/``, through Beam's FileSystems, so it works on any runner),
for the driver to show the build's progress. Markers carry counts only, never document data."""

from __future__ import annotations

import json
import os

from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import join, unrecorded, write_bytes


def _mark(work_dir: str, name: str, body: dict) -> None:
    with unrecorded():  # a marker is not part of a unit's saved work
        write_bytes(join(work_dir, "progress", name), json.dumps(body).encode())


def mark_file_done(work_dir: str, file_idx: int, records: int) -> None:
    _mark(work_dir, f"read-{file_idx:05d}.json", {"file": file_idx, "records": records})


def mark_unit_done(work_dir: str, file_idx: int, index: int, unit, saved: bool) -> None:
    """A unit of an input file read (``saved``: committed by an earlier run of the build):
    its records, and where in the file the next unit starts when the format says."""
    records = sum(c["input_records"] for tag, c in unit.outputs if tag == "counts")
    offset = unit.end.offset if unit.end is not None else None
    body = {"file": file_idx, "unit": index, "records": records, "offset": offset, "saved": saved}
    _mark(work_dir, f"unit-{file_idx:05d}-{index:05d}.json", body)


def mark_partition_done(work_dir: str, split: str, period: str, shards: int) -> None:
    _mark(work_dir, f"shards-{split}-{period}.json", {"shards": shards})


def read_markers(work_dir: str) -> list[tuple[str, dict]]:
    """Every marker left so far, as (file name, content)."""
    folder = join(work_dir, "progress")
    out = []
    try:
        if "://" not in folder:
            paths = [os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".json")]
        else:
            paths = [m.path for m in FileSystems.match([join(folder, "*.json")])[0].metadata_list]
    except (OSError, ValueError):
        return out
    for p in sorted(paths):
        try:
            with FileSystems.open(p) as f:
                out.append((os.path.basename(p), json.loads(f.read())))
        except (OSError, ValueError):
            continue  # being written, or removed with the work folder
    return out
