"""WARC, WET and ARC files framed into their records: ``(position, type, headers, content,
length)`` for every record, whatever its type.

WARC (1.0, 1.1 and ClueWeb's 0.18; plain or gzip per record) is read with FastWARC, the fastest
maintained reader (Resiliparse's project, C++); legacy ARC (``.arc``, ``.arc.gz``) with warcio,
which FastWARC does not read, and so is a WARC whose headers FastWARC cannot frame. FastWARC's
own HTTP parsing is off: the HTTP block is split and its body decoded leniently
(``curate.readers.http``), because real archives break the rules. An archive that ends inside a
record raises ``Truncated``: a partial page must not pass for a whole one. Units of work start
at a record: a WARC compressed per record (Common Crawl's), or not at all, is entered by seeking
to the record's offset; any other archive by reading past the records before it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import IO

from curate.readers.http import HEAD_LIMIT
from curate.readers.records import Resume

# what an archive holds at a record's start: a gzip member, a zstd frame, or a plain record
_RECORD_STARTS = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"WARC/")

RECORD_TYPES = {  # WARC 1.1's record types; any other is warc.unknown_type
    "warcinfo",
    "response",
    "resource",
    "request",
    "metadata",
    "revisit",
    "conversion",
    "continuation",
}


def is_arc(path: str) -> bool:
    name = path.lower()
    return name.endswith((".arc", ".arc.gz"))


class Truncated(EOFError):
    """The archive ends inside a record (or its headers lost their length): a partial page must
    not pass for a whole one, and nothing after it can be framed."""

    def __init__(self, position: int, declared: int | None, got: int) -> None:
        super().__init__(
            f"record {position} has no Content-Length (headers cut short?)"
            if declared is None
            else f"record {position} is truncated: it declares {declared} bytes, the archive "
            f"ends after {got}"
        )
        self.position = position
        self.declared = declared


def records(
    raw: IO[bytes],
    path: str,
    limit: int,
    reopen=None,
    start: Resume | None = None,
    unit_bytes: int = 0,
) -> Iterator:
    """The archive's records, as ``(position, type, headers, content, length)``: FastWARC for
    WARC, warcio for ARC, and warcio for a WARC whose first record FastWARC cannot frame:
    headers ended by bare newlines, against the standard but written by some tools, which
    warcio reads. From ``start``, or the first; with ``unit_bytes``, a ``Resume`` before the
    first record after each ``unit_bytes`` of records."""
    if is_arc(path) or (start is not None and start.state.get("framer") == "warcio"):
        yield from _arc_records(raw, limit, start, unit_bytes, arc=is_arc(path))
        return
    first = start is None
    try:
        for rec in _warc_records(raw, limit, start, unit_bytes):
            first = False
            yield rec
    except Truncated as e:
        if not (first and e.declared is None and reopen is not None):
            raise
        with reopen() as again:
            yield from _arc_records(again, limit, None, unit_bytes, arc=False)


def _at_record(raw: IO[bytes], offset: int) -> bool:
    """Whether ``raw`` can be entered at ``offset``: a record, gzip member or zstd frame
    starts there (a WARC compressed as one stream cannot be entered in the middle)."""
    try:
        raw.seek(offset)
        head = raw.read(5)
        raw.seek(offset)
    except (OSError, ValueError):
        return False
    return any(head.startswith(m) for m in _RECORD_STARTS)


def _warc_records(raw: IO[bytes], limit: int, start: Resume | None, unit_bytes: int) -> Iterator:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    first, skip = 1, 1
    if start is not None:
        skip = start.position  # records before it are read past
        if start.offset is not None and _at_record(raw, start.offset):
            first = start.position
        else:
            raw.seek(0)
    it = ArchiveIterator(
        raw, parse_http=False, record_types=WarcRecordType.any_type, strict_mode=False
    )
    cap = limit + HEAD_LIMIT + 1
    since = 0
    for position, rec in enumerate(it, first):
        if position < skip:
            continue
        if position == first > 1 and rec.record_id != start.state.get("record_id"):
            # not the record saved: read the archive from its start instead
            raw.seek(0)
            yield from _warc_records(raw, limit, Resume(start.position), unit_bytes)
            return
        if unit_bytes and since >= unit_bytes:
            yield Resume(position, rec.stream_pos, {"record_id": rec.record_id})
            since = 0
        headers = {k.lower(): v for k, v in rec.headers.astuples()}
        content = rec.reader.read(cap)
        if "content-length" not in headers:
            raise Truncated(position, None, len(content))
        if len(content) < min(rec.content_length, cap):
            raise Truncated(position, rec.content_length, len(content))
        rtype = headers.get("warc-type", "").strip().lower()
        rtype = rtype if rtype in RECORD_TYPES else "unknown_type"
        since += rec.content_length
        yield position, rtype, headers, content, rec.content_length


def _arc_records(
    raw: IO[bytes], limit: int, start: Resume | None, unit_bytes: int, arc: bool
) -> Iterator:
    """warcio's records; for an ARC file (``arc``), whose records have no id, warcio makes a
    random one for each: replaced by one derived from the record's place, date and URI, so that
    the same archive gives the same documents every time it is read."""
    from warcio.archiveiterator import ArchiveIterator

    skip = start.position if start is not None else 1
    cap = limit + HEAD_LIMIT + 1
    since = 0
    for position, rec in enumerate(ArchiveIterator(raw, arc2warc=True), 1):
        if position < skip:
            continue
        if unit_bytes and since >= unit_bytes:
            yield Resume(position, None, {"framer": "warcio"})
            since = 0
        headers = {k.lower(): v for k, v in rec.rec_headers.headers}
        if arc:
            seed = f"{position} {headers.get('warc-date')} {headers.get('warc-target-uri')}"
            headers["warc-record-id"] = f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, seed)}>"
        # warcio has parsed the HTTP block of an ARC response: put it back as it was sent
        head = b""
        if rec.http_headers is not None and rec.rec_type == "response":
            head = rec.http_headers.to_bytes()
        body = rec.raw_stream.read(cap)
        missing = getattr(rec.raw_stream, "limit", 0)  # warcio's LimitReader: bytes not there
        if missing and len(body) < cap:
            raise Truncated(position, rec.length, rec.length - missing)
        content = head + body
        rtype = rec.rec_type if rec.rec_type in RECORD_TYPES else "unknown_type"
        since += len(content)
        yield position, rtype, headers, content, len(content)


def warcinfo_field(content: bytes, name: str) -> str | None:
    for line in content.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower() and value.strip():
            return value.strip()
    return None
