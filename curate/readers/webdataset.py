"""WebDataset tar shards: consecutive members sharing a key form one sample. Members are read
into memory, never extracted; unsafe members (links, devices, names that escape the shard) and
oversized ones are quarantined; a truncated archive is told from a whole one by its end block.
Units of work start at a sample; a tar stream cannot seek, so the samples before one are read
past without holding their members."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import IO, Any

from curate.readers.records import BadRecord, RawRecord, Resume, snippet
from curate.readers.streams import STREAM_ERRORS


def _unsafe_member(m) -> str | None:
    """Why a tar member must not be read: links and devices point outside the shard, and an
    absolute or ``..`` name would escape it if anyone extracted it."""
    name = m.name
    if name.startswith("/") or "\\" in name or ".." in name.split("/"):
        return f"member name {name!r} escapes the shard"
    if not m.isfile():
        kind = "link" if (m.issym() or m.islnk()) else "special file"
        return f"member {name!r} is a {kind}, not a regular file"
    return None


def _sample_key(name: str) -> tuple[str, str]:
    """WebDataset's rule: the key is the path up to the first dot of the file name."""
    directory, _, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return (f"{directory}/{stem}" if directory else stem), ext.lower()


class _TailReader(io.RawIOBase):
    """Passes reads through and keeps the last few, so that the end of a tar archive can be
    checked: tarfile stops silently when the data ends between members, and only the two
    zero blocks that end a complete archive tell a whole archive from a truncated one."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self.pos = 0
        self._tail: list[tuple[int, bytes]] = []

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n)
        if data:
            self._tail = [*self._tail[-2:], (self.pos, data)]
            self.pos += len(data)
        return data

    def zeros_at(self, offset: int) -> bool:
        """Whether the 512 bytes at ``offset`` were read and are all zero."""
        block = b"".join(d for _, d in self._tail)
        start = offset - (self._tail[0][0] if self._tail else 0)
        chunk = block[start : start + 512] if start >= 0 else b""
        return len(chunk) == 512 and not chunk.strip(b"\0")


def read_tar(
    raw: IO[bytes], max_member_bytes: int, start: Resume | None = None, unit_bytes: int = 0
) -> Iterator:
    """WebDataset samples: consecutive members sharing a key form one record ``{ext: value}``
    (``json`` parsed and merged at the top level, ``txt`` decoded, other members as bytes).
    Members are read into memory, never extracted; an unsafe or oversized member is its own
    quarantined record and its bytes are skipped. From ``start``, the records before it are
    read past; with ``unit_bytes``, a ``Resume`` before the first sample after each
    ``unit_bytes`` of members."""
    import tarfile

    position = 0
    first = start.position if start is not None else 1  # records before it are not yielded
    sample: dict[str, bytes] = {}
    key = None
    since = 0

    def finish() -> Iterator:
        """The sample gathered so far, if any, as a record."""
        nonlocal sample, key, position
        if key is not None:
            position += 1
            if position >= first:
                yield _tar_sample(position, key, sample)
            sample, key = {}, None

    stream = _TailReader(raw)
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for m in tar:
                if m.isdir():
                    continue  # directories are not records
                why = _unsafe_member(m)
                if why is None and m.size > max_member_bytes:
                    why = f"member {m.name!r} of {m.size} bytes is over {max_member_bytes}"
                    kind = "too_large"
                else:
                    kind = "tar_unsafe_member"
                if why is not None:
                    yield from finish()
                    position += 1
                    if position >= first:
                        yield BadRecord(position, kind, why)
                    continue
                k, ext = _sample_key(m.name)
                if k != key:
                    yield from finish()
                    key = k
                    if unit_bytes and since >= unit_bytes and position + 1 > first:
                        yield Resume(position + 1)
                        since = 0
                if position + 1 < first:
                    sample[ext] = b""  # read past: tarfile skips the member's data
                    continue
                since += m.size
                f = tar.extractfile(m)
                sample[ext] = f.read() if f is not None else b""
            if not stream.zeros_at(tar.offset):
                raise tarfile.ReadError("archive ends without its end-of-archive block (truncated)")
    except (tarfile.TarError, *STREAM_ERRORS) as e:
        # the sample being gathered may have lost members to the break: it is the error's record
        cut = f" (sample {key!r} is incomplete)" if key is not None else ""
        yield BadRecord(position + 1, "read_error", f"tar: {type(e).__name__}: {e}{cut}")
        return
    yield from finish()


def _tar_sample(position: int, key: str, members: dict[str, bytes]):
    value: dict[str, Any] = {}
    if "json" in members:
        try:
            meta = json.loads(members["json"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            return BadRecord(position, "invalid_json", f"{key}.json: {e}", snippet(members["json"]))
        if not isinstance(meta, dict):
            return BadRecord(position, "not_an_object", f"{key}.json is not an object")
        value.update(meta)
    if "txt" in members:
        try:
            value["txt"] = members["txt"].decode("utf-8")
        except UnicodeDecodeError as e:
            return BadRecord(position, "invalid_utf8", f"{key}.txt: {e}", snippet(members["txt"]))
    for ext, data in members.items():
        if ext not in ("json", "txt"):
            value[ext] = data
    value["__key__"] = key
    return RawRecord(position, value, sum(len(d) for d in members.values()))
