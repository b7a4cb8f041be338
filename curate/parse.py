"""Turn a raw record into a Document, or say exactly why it cannot be one."""

from __future__ import annotations

import hashlib
from typing import Any

from curate.config import InputConfig, TemporalConfig
from curate.normalize import normalize_text
from curate.schema import Document
from curate.timeparse import TimestampError, datetime_to_us, parse_timestamp_us


class RecordError(ValueError):
    """A record that goes to quarantine; ``kind`` is the stats key."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class RecordParser:
    """Maps configured field names onto the Document schema and validates the timestamp."""

    def __init__(self, inp: InputConfig, temporal: TemporalConfig):
        self.inp = inp
        self.undated_ok = temporal.undated == "keep"
        self.min_us = datetime_to_us(temporal.min_time)
        self.max_us = datetime_to_us(temporal.max_time)
        self._named = {
            inp.id_field,
            inp.text_field,
            inp.time_field,
            inp.source_field,
            inp.url_field,
        }

    def parse(self, value: Any, origin: str) -> Document:
        inp = self.inp
        if not isinstance(value, dict):
            raise RecordError(
                "not_an_object", f"record is a JSON {type(value).__name__}, not an object"
            )
        text = value.get(inp.text_field)
        if text is None:
            raise RecordError("missing_text", f"no {inp.text_field!r} field")
        if not isinstance(text, str):
            raise RecordError(
                "bad_type", f"{inp.text_field!r} is a {type(text).__name__}, not a string"
            )
        if len(text) * 4 > inp.max_doc_bytes and len(text.encode("utf-8")) > inp.max_doc_bytes:
            raise RecordError("too_large", f"text is over the limit of {inp.max_doc_bytes} bytes")
        timestamp = self._timestamp(value.get(inp.time_field))
        doc_id = value.get(inp.id_field)
        if doc_id is None:
            doc_id = hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()
        elif isinstance(doc_id, str | int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        else:
            raise RecordError("bad_type", f"{inp.id_field!r} is a {type(doc_id).__name__}")
        source = _optional_str(value, inp.source_field) or inp.default_source
        url = _optional_str(value, inp.url_field)
        metadata = {k: v for k, v in value.items() if k not in self._named}
        normalized = normalize_text(text)
        return Document(
            id=doc_id,
            text=normalized,
            timestamp=timestamp,
            source=source,
            url=url,
            metadata=metadata,
            origin=origin,
            orig_chars=len(text),
        )

    def _timestamp(self, raw: Any) -> int | None:
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if self.undated_ok:
                return None
            raise RecordError("timestamp_missing", f"no {self.inp.time_field!r} field")
        try:
            us = parse_timestamp_us(raw)
        except TimestampError as e:
            if self.undated_ok:
                return None
            raise RecordError("timestamp_unparseable", str(e)) from None
        if not self.min_us <= us < self.max_us:
            raise RecordError(
                "timestamp_out_of_range",
                f"timestamp {raw!r:.60} is outside "
                f"[{self._iso(self.min_us)}, {self._iso(self.max_us)})",
            )
        return us

    @staticmethod
    def _iso(us: int) -> str:
        from curate.timeparse import us_to_iso

        return us_to_iso(us) or ""


def _optional_str(value: dict, key: str) -> str | None:
    v = value.get(key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise RecordError("bad_type", f"{key!r} is a {type(v).__name__}, not a string")
    return v
