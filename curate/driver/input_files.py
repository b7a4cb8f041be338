"""The build's input files: expanded once by the driver, with each file's size and time of last
change recorded so that a file that changes while it is read fails the build."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from curate.core.errors import BuildError


class InputError(BuildError):
    """An input pattern or file that cannot be built from."""


class InputFile(NamedTuple):
    path: str
    size: int
    mtime: float  # seconds (from st_mtime_ns on local disks)


def _stat(path: str) -> tuple[int, float]:
    if "://" not in path:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns / 1e9
    meta = FileSystems.match([glob.escape(path)])[0].metadata_list
    if not meta:
        raise FileNotFoundError(path)
    return meta[0].size_in_bytes, meta[0].last_updated_in_seconds


def expand_inputs(patterns: Sequence[str]) -> list[InputFile]:
    """Sorted, de-duplicated files. A pattern that names an existing file is that file, even
    if its name holds glob characters (``data[1].jsonl``); one that matches nothing, or names a
    directory, is an error."""
    found: dict[str, InputFile] = {}
    for pattern in patterns:
        if "://" not in pattern and os.path.isdir(pattern):
            raise InputError(
                f"input path {pattern!r} is a directory; name its files, e.g. "
                f"{os.path.join(pattern, '*')!r}"
            )
        if "://" not in pattern and os.path.isfile(pattern):
            paths = [pattern]
        else:
            result = FileSystems.match([pattern])[0]
            paths = [m.path for m in result.metadata_list]
            if "://" not in pattern:
                paths = [p for p in paths if os.path.isfile(p)]
        if not paths:
            raise InputError(f"input pattern {pattern!r} matches no file")
        for p in paths:
            try:
                found[p] = InputFile(p, *_stat(p))
            except OSError as e:
                raise InputError(f"cannot read input {p}: {e.strerror or e}") from None
    return [found[p] for p in sorted(found)]


def check_unchanged(files: Sequence[InputFile]) -> None:
    """Fail when an input's size or time of last change differs from the plan's: its records
    may have been read half old, half new (or by one pass and not the other)."""
    for f in files:
        try:
            now = _stat(f.path)
        except OSError:
            raise InputError(f"input {f.path} disappeared during the build") from None
        if now != (f.size, f.mtime):
            raise InputError(
                f"input {f.path} changed during the build ({f.size:,} bytes when planned, "
                f"{now[0]:,} now); rerun when the inputs are final"
            )
