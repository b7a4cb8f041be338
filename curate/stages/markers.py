"""The markers a build's workers leave in the work directory, one per finished input file and
per written partition (``progress/``, through Beam's FileSystems, so it works on any runner),
for the driver to show the build's progress. Markers carry counts only, never document data."""

from __future__ import annotations

import json
import os

from apache_beam.io.filesystems import FileSystems

from curate.core.fileio import join, write_bytes


def mark_file_done(work_dir: str, file_idx: int, records: int) -> None:
    path = join(work_dir, "progress", f"read-{file_idx:05d}.json")
    write_bytes(path, json.dumps({"file": file_idx, "records": records}).encode())


def mark_partition_done(work_dir: str, split: str, period: str, shards: int) -> None:
    path = join(work_dir, "progress", f"shards-{split}-{period}.json")
    write_bytes(path, json.dumps({"shards": shards}).encode())


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
