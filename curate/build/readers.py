"""Read raw records from JSONL and WebDataset tar files (plain, gzip, zstd, bzip2, xz) and
Parquet, never raising on bad data.

Every record becomes either a ``RawRecord`` (a decoded JSON object or Parquet row) or a
``BadRecord`` naming the position and the error, so the caller can quarantine it. A broken
stream (truncated gzip, zstd, bzip2 or xz, unreadable Parquet) ends the file with one
``BadRecord``; the records read before the break are kept.

Files are opened as raw bytes through Beam's FileSystems (so ``gs://`` and ``s3://`` work) and
decompressed here: Beam's own gzip reader stops silently at a truncated stream.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import zstandard

_CHUNK = 1 << 20
# what a broken compressed stream raises: zlib.error is not an OSError (found by fuzzing)
_STREAM_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError, lzma.LZMAError)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
RAW_SNIPPET = 500
_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class RawRecord:
    position: int  # 1-based line (JSONL) or 0-based row (Parquet)
    value: Any
    nbytes: int


@dataclass(slots=True)
class BadRecord:
    position: int
    kind: str
    error: str
    raw: str | None = None


def open_raw(path: str) -> IO[bytes]:
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def detect_format(path: str, fmt: str = "auto") -> str:
    if fmt != "auto":
        return fmt
    name = path.lower()
    if name.endswith(".parquet") or name.endswith(".pq"):
        return "parquet"
    if name.endswith((".tar", ".tgz", ".tar.gz", ".tar.zst", ".tar.bz2", ".tar.xz")):
        return "webdataset"
    if name.removesuffix(".gz").endswith((".warc", ".arc", ".wet", ".wat")):
        return "warc"
    if name.removesuffix(".zst").endswith((".warc", ".wet", ".wat")):
        return "warc"  # FastWARC reads zstd too (warcio, for ARC, does not)
    return "jsonl"


def read_file(
    path: str,
    fmt: str = "auto",
    max_doc_bytes: int = 10_000_000,
    extractor: str = "fallback",
    extract_timeout: float = 0.0,
    modality: str = "text",
) -> Iterator:
    """Yield RawRecord / BadRecord for every record of one input file (and SkippedRecord for a
    web archive's records that are not documents; ``extractor``: its HTML extraction)."""
    fmt = detect_format(path, fmt)
    try:
        raw = open_raw(path)
    except Exception as e:  # noqa: BLE001 - any open failure is reported, never raised
        yield BadRecord(0, "read_error", f"cannot open {path}: {e}")
        return
    with raw:
        if fmt == "parquet":
            yield from _read_parquet(raw, max_doc_bytes)
        elif fmt == "warc":
            from curate.web.warc import WebOptions, read_warc

            options = WebOptions(extractor, max_doc_bytes, extract_timeout, modality)
            yield from read_warc(raw, path, options, lambda: open_raw(path))
        elif fmt == "webdataset":
            yield from _read_tar(_decompressed(raw, path), max_doc_bytes)
        else:
            yield from _read_jsonl(_decompressed(raw, path), max_doc_bytes)


_ZSTD_FEED = 1024  # compressed bytes per decompress call: a zstd block (>= 4 bytes) expands to
# at most 128 KB, so one call yields at most 32 MB whatever the input (bombs stay bounded)


class ZstdReader(io.RawIOBase):
    """Streaming zstd that raises on a truncated frame (zstandard's stream_reader does not)
    and bounds its memory: input is fed in small pieces, never a whole bomb at once."""

    def __init__(self, raw: IO[bytes]):
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._obj = self._dctx.decompressobj()
        self._buf = b""
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            if not self._pending:
                self._pending = self._raw.read(_CHUNK)
                if not self._pending:
                    if self._in_frame:
                        raise EOFError("zstd stream ended before the end of its frame (truncated)")
                    return 0
            piece, self._pending = self._pending[:_ZSTD_FEED], self._pending[_ZSTD_FEED:]
            self._feed(piece)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _feed(self, chunk: bytes) -> None:
        while chunk:
            self._in_frame = True
            self._buf += self._obj.decompress(chunk)
            if not self._obj.eof:
                return
            chunk = self._obj.unused_data
            self._obj = self._dctx.decompressobj()
            self._in_frame = False


def _decompressed(raw: IO[bytes], path: str) -> IO[bytes]:
    name = path.lower()
    if name.endswith((".gz", ".tgz")):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if name.endswith(".zst") or name.endswith(".zstd"):
        return io.BufferedReader(ZstdReader(raw), buffer_size=_CHUNK)
    if name.endswith(".bz2"):  # Wikipedia's dumps; both raise EOFError on a cut stream
        return bz2.BZ2File(raw, mode="rb")
    if name.endswith(".xz"):
        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _snippet(data: bytes | str) -> str:
    if isinstance(data, bytes):
        data = data[:RAW_SNIPPET].decode("utf-8", errors="backslashreplace")
    return data[:RAW_SNIPPET]


def _read_jsonl(stream: IO[bytes], max_doc_bytes: int) -> Iterator:
    line_no = 0
    while True:
        try:
            line = stream.readline(max_doc_bytes + 1)
        except _STREAM_ERRORS as e:
            yield BadRecord(line_no + 1, "read_error", f"{type(e).__name__}: {e}")
            return
        if not line:
            return
        line_no += 1
        if len(line) > max_doc_bytes and not line.endswith(b"\n"):
            size = len(line)
            try:
                while not line.endswith(b"\n"):  # skip the rest without holding it
                    line = stream.readline(_CHUNK)
                    size += len(line)
                    if not line:
                        break
            except _STREAM_ERRORS as e:
                yield BadRecord(line_no, "too_large", f"record over {max_doc_bytes} bytes")
                yield BadRecord(line_no + 1, "read_error", f"{type(e).__name__}: {e}")
                return
            yield BadRecord(
                line_no, "too_large", f"record of {size} bytes is over the limit of {max_doc_bytes}"
            )
            continue
        if line_no == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]  # Windows tools start UTF-8 text with a byte-order mark
        if not line.strip():
            continue  # blank lines are not records
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            yield BadRecord(line_no, "invalid_utf8", str(e), _snippet(line))
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            yield BadRecord(line_no, "invalid_json", str(e)[:200], _snippet(text))
            continue
        if _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(value):
            yield BadRecord(line_no, "invalid_utf8", "lone UTF-16 surrogate escape", _snippet(text))
            continue
        yield RawRecord(line_no, value, len(line))


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _read_parquet(raw: IO[bytes], max_doc_bytes: int) -> Iterator:
    import pyarrow.parquet as pq

    row = 0
    try:
        pf = pq.ParquetFile(raw)
        for batch in pf.iter_batches(batch_size=1024):
            try:
                values = _microseconds(batch).to_pylist()
            except Exception as e:  # noqa: BLE001 - a value Python cannot hold: these rows only
                for _ in range(batch.num_rows):
                    yield BadRecord(row, "bad_type", f"parquet: {type(e).__name__}: {e}"[:500])
                    row += 1
                continue
            for value in values:
                yield RawRecord(row, value, 0)
                row += 1
    except Exception as e:  # noqa: BLE001 - pyarrow raises many types for corrupt files
        yield BadRecord(row, "read_error", f"parquet: {type(e).__name__}: {e}")


def _microseconds(batch):
    """Nanosecond times and durations (pandas' default) cut to microseconds: Python's datetime
    cannot hold a nanosecond, and pyarrow refuses the whole batch when one has any."""
    import pyarrow as pa

    for i, f in enumerate(batch.schema):
        t = f.type
        if (pa.types.is_timestamp(t) or pa.types.is_duration(t)) and t.unit == "ns":
            us = pa.timestamp("us", t.tz) if pa.types.is_timestamp(t) else pa.duration("us")
            batch = batch.set_column(i, f.name, batch.column(i).cast(us, safe=False))
    return batch


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


def _read_tar(raw: IO[bytes], max_member_bytes: int) -> Iterator:
    """WebDataset samples: consecutive members sharing a key form one record ``{ext: value}``
    (``json`` parsed and merged at the top level, ``txt`` decoded, other members as bytes).
    Members are read into memory, never extracted; an unsafe or oversized member is its own
    quarantined record and its bytes are skipped."""
    import tarfile

    position = 0
    sample: dict[str, bytes] = {}
    key = None

    def finish() -> Iterator:
        """The sample gathered so far, if any, as a record."""
        nonlocal sample, key, position
        if key is not None:
            position += 1
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
                    yield BadRecord(position, kind, why)
                    continue
                k, ext = _sample_key(m.name)
                if k != key:
                    yield from finish()
                    key = k
                f = tar.extractfile(m)
                sample[ext] = f.read() if f is not None else b""
            if not stream.zeros_at(tar.offset):
                raise tarfile.ReadError("archive ends without its end-of-archive block (truncated)")
    except (tarfile.TarError, *_STREAM_ERRORS) as e:
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
            return BadRecord(
                position, "invalid_json", f"{key}.json: {e}", _snippet(members["json"])
            )
        if not isinstance(meta, dict):
            return BadRecord(position, "not_an_object", f"{key}.json is not an object")
        value.update(meta)
    if "txt" in members:
        try:
            value["txt"] = members["txt"].decode("utf-8")
        except UnicodeDecodeError as e:
            return BadRecord(position, "invalid_utf8", f"{key}.txt: {e}", _snippet(members["txt"]))
    for ext, data in members.items():
        if ext not in ("json", "txt"):
            value[ext] = data
    value["__key__"] = key
    return RawRecord(position, value, sum(len(d) for d in members.values()))
