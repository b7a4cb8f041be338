"""JSONL, one record per line: a line that is not UTF-8 or not JSON, or that is over the size
limit, is a ``BadRecord`` of its own; a broken stream ends the file with one. Units of work
start at a line: a plain file is entered by seeking to the line's byte offset, a compressed one
by skipping the lines before it without parsing them."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from curate.readers.records import BadRecord, RawRecord, Resume, snippet
from curate.readers.streams import CHUNK, STREAM_ERRORS

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_BOM = b"\xef\xbb\xbf"


def read_jsonl(
    stream: IO[bytes],
    max_doc_bytes: int,
    start: Resume | None = None,
    unit_bytes: int = 0,
    seekable: bool = False,
) -> Iterator:
    """Records from line 1, or from ``start``; with ``unit_bytes``, a ``Resume`` before the
    first line after each ``unit_bytes`` read (byte offsets too when ``seekable``: a plain
    file)."""
    line_no, offset = 0, 0
    if start is not None:
        line_no = start.position - 1
        if seekable and start.offset is not None:
            stream.seek(start.offset)
            offset = start.offset
        else:
            _skip_lines(stream, line_no)
    since = 0
    while True:
        try:
            line = stream.readline(max_doc_bytes + 1)
        except STREAM_ERRORS as e:
            yield BadRecord(line_no + 1, "read_error", f"{type(e).__name__}: {e}")
            return
        if not line:
            return
        if unit_bytes and since >= unit_bytes:
            yield Resume(line_no + 1, offset if seekable else None)
            since = 0
        line_no += 1
        offset += len(line)
        since += len(line)
        if len(line) > max_doc_bytes and not line.endswith(b"\n"):
            size = len(line)
            try:
                while not line.endswith(b"\n"):  # skip the rest without holding it
                    line = stream.readline(CHUNK)
                    size += len(line)
                    offset += len(line)
                    if not line:
                        break
            except STREAM_ERRORS as e:
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
            yield BadRecord(line_no, "invalid_utf8", str(e), snippet(line))
            continue
        try:
            value = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as e:
            yield BadRecord(line_no, "invalid_json", str(e)[:200], snippet(text))
            continue
        if _SURROGATE_ESCAPE.search(line) and _has_lone_surrogate(value):
            yield BadRecord(line_no, "invalid_utf8", "lone UTF-16 surrogate escape", snippet(text))
            continue
        yield RawRecord(line_no, value, len(line))


def _skip_lines(stream: IO[bytes], n: int) -> None:
    """Read past ``n`` lines without holding or parsing them."""
    while n > 0:
        piece = stream.readline(CHUNK)
        if not piece:
            return
        if piece.endswith(b"\n"):
            n -= 1


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
