"""One input file to its records, whatever its format: JSONL and WebDataset tar files (plain,
gzip, zstd, bzip2, xz), Parquet, and web archives (WARC, WET, ARC), never raising on bad data.

Every record becomes a ``RawRecord``, a ``BadRecord`` or a ``SkippedRecord``
(``curate.readers.records``). A broken stream (truncated gzip, zstd, bzip2 or xz, unreadable
Parquet) ends the file with one ``BadRecord``; the records read before the break are kept.
A web archive's pages become documents through HTML extraction, which lives above this wing
(``curate.web``): the caller passes it in as ``web``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from curate.readers.jsonl import read_jsonl
from curate.readers.parquet import read_parquet
from curate.readers.records import BadRecord, Resume
from curate.readers.streams import decompressed, open_raw
from curate.readers.webdataset import read_tar

# a web archive's records to documents: (raw stream, path, reopen, start, unit_bytes) -> records
ArchiveReader = Callable[..., Iterator]


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
    web: ArchiveReader | None = None,
    start: Resume | None = None,
    unit_bytes: int = 0,
) -> Iterator:
    """Yield RawRecord / BadRecord for every record of one input file (and SkippedRecord for a
    web archive's records that are not documents). ``web``: how a web archive's records become
    documents (``curate.web.documents.WebOptions.read``); without it a web archive is one
    ``read_error``. Units of work: from ``start`` (a ``Resume`` the same reader yielded), and
    with ``unit_bytes``, a ``Resume`` between records after each ``unit_bytes`` read."""
    fmt = detect_format(path, fmt)
    try:
        raw = open_raw(path)
    except Exception as e:  # noqa: BLE001 - any open failure is reported, never raised
        yield BadRecord(0, "read_error", f"cannot open {path}: {e}")
        return
    with raw:
        if fmt == "parquet":
            yield from read_parquet(raw, max_doc_bytes, start, unit_bytes)
        elif fmt == "warc":
            if web is None:
                yield BadRecord(0, "read_error", f"{path}: a web archive needs an HTML extractor")
                return
            yield from web(raw, path, lambda: open_raw(path), start, unit_bytes)
        elif fmt == "webdataset":
            yield from read_tar(decompressed(raw, path), max_doc_bytes, start, unit_bytes)
        else:
            stream = decompressed(raw, path)
            plain = stream is raw
            yield from read_jsonl(stream, max_doc_bytes, start, unit_bytes, seekable=plain)
