"""What a reader yields for each record of an input file: a ``RawRecord`` (a decoded JSON
object, Parquet row, WebDataset sample or web page's fields), a ``BadRecord`` naming the position
and the error so that the caller can quarantine it, or a ``SkippedRecord`` (a web archive's
record that is not a document, removed under a named reason). Asked for units of work, a
reader also yields a ``Resume`` between records: a point it can start reading from again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RAW_SNIPPET = 500


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


@dataclass(slots=True)
class SkippedRecord:
    """A record that is not a document (a request, a redirect, an image): removed under
    ``reason`` (``warc.request``, ``warc.http_status``, ``warc.not_text``, ...)."""

    position: int
    reason: str
    nbytes: int
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Resume:
    """Where a reader can start again, yielded before the record it names: that record's
    ``position``, the byte offset of its start where the format can seek there (``None``: the
    reader skips the records before it instead), and what the reader knew at that point
    (``state``: a web archive's crawl, a Parquet row group). JSON-able, so that a saved unit of
    work can name where the next one starts."""

    position: int
    offset: int | None = None
    state: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"position": self.position, "offset": self.offset, "state": self.state}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Resume:
        return cls(value["position"], value.get("offset"), dict(value.get("state") or {}))


def snippet(data: bytes | str) -> str:
    """The start of a raw record, as a quarantine entry shows it."""
    if isinstance(data, bytes):
        data = data[:RAW_SNIPPET].decode("utf-8", errors="backslashreplace")
    return data[:RAW_SNIPPET]
