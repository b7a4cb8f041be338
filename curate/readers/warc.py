"""WARC, WET and ARC files framed into their records: ``(position, type, headers, content,
length)`` for every record, whatever its type.

WARC (1.0, 1.1 and ClueWeb's 0.18; plain or gzip per record) is read with FastWARC, the fastest
maintained reader (Resiliparse's project, C++); legacy ARC (``.arc``, ``.arc.gz``) with warcio,
which FastWARC does not read, and so is a WARC whose headers FastWARC cannot frame. FastWARC's
own HTTP parsing is off: the HTTP block is split and its body decoded leniently
(``curate.readers.http``), because real archives break the rules. An archive that ends inside a
record raises ``Truncated``: a partial page must not pass for a whole one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from curate.readers.http import HEAD_LIMIT

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


def records(raw: IO[bytes], path: str, limit: int, reopen=None) -> Iterator[tuple]:
    """The archive's records: FastWARC for WARC, warcio for ARC, and warcio for a WARC whose
    first record FastWARC cannot frame: headers ended by bare newlines, against the standard
    but written by some tools, which warcio reads."""
    if is_arc(path):
        yield from _arc_records(raw, limit)
        return
    first = True
    try:
        for rec in _warc_records(raw, limit):
            first = False
            yield rec
    except Truncated as e:
        if not (first and e.declared is None and reopen is not None):
            raise
        with reopen() as again:
            yield from _arc_records(again, limit)


def _warc_records(raw: IO[bytes], limit: int) -> Iterator[tuple]:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    it = ArchiveIterator(
        raw, parse_http=False, record_types=WarcRecordType.any_type, strict_mode=False
    )
    cap = limit + HEAD_LIMIT + 1
    for position, rec in enumerate(it, 1):
        headers = {k.lower(): v for k, v in rec.headers.astuples()}
        content = rec.reader.read(cap)
        if "content-length" not in headers:
            raise Truncated(position, None, len(content))
        if len(content) < min(rec.content_length, cap):
            raise Truncated(position, rec.content_length, len(content))
        rtype = headers.get("warc-type", "").strip().lower()
        rtype = rtype if rtype in RECORD_TYPES else "unknown_type"
        yield position, rtype, headers, content, rec.content_length


def _arc_records(raw: IO[bytes], limit: int) -> Iterator[tuple]:
    from warcio.archiveiterator import ArchiveIterator

    cap = limit + HEAD_LIMIT + 1
    for position, rec in enumerate(ArchiveIterator(raw, arc2warc=True), 1):
        headers = {k.lower(): v for k, v in rec.rec_headers.headers}
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
        yield position, rtype, headers, content, len(content)


def warcinfo_field(content: bytes, name: str) -> str | None:
    for line in content.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower() and value.strip():
            return value.strip()
    return None
