"""JSONL, one record per line: a line that is not UTF-8 or not JSON, or that is over the size
limit, is a ``BadRecord`` of its own; a broken stream ends the file with one."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from curate.readers.records import BadRecord, RawRecord, snippet
from curate.readers.streams import CHUNK, STREAM_ERRORS

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_BOM = b"\xef\xbb\xbf"


def read_jsonl(stream: IO[bytes], max_doc_bytes: int) -> Iterator:
    line_no = 0
    while True:
        try:
            line = stream.readline(max_doc_bytes + 1)
        except STREAM_ERRORS as e:
            yield BadRecord(line_no + 1, "read_error", f"{type(e).__name__}: {e}")
            return
        if not line:
            return
        line_no += 1
        if len(line) > max_doc_bytes and not line.endswith(b"\n"):
            size = len(line)
            try:
                while not line.endswith(b"\n"):  # skip the rest without holding it
                    line = stream.readline(CHUNK)
                    size += len(line)
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


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
