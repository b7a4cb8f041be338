"""The document record that flows through every stage, and the Arrow schema of the shards.

Timestamps are integer microseconds since the Unix epoch (UTC) inside the pipeline: they sort,
hash and pickle cheaply, and map one to one onto Arrow's ``timestamp[us, UTC]``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

IMAGE_PLACEHOLDER = "\ufffc"
"""Where an image sits in an interleaved document's text (U+FFFC OBJECT REPLACEMENT CHARACTER,
on a line of its own); tokenization puts the image token there."""

UNDATED = "undated"
"""Period name for documents kept without a timestamp (``temporal.undated: keep``)."""

SORT_LAST = 2**63 - 1
"""Sort key used for undated documents so that any dated copy is preferred as survivor."""


@dataclass(slots=True)
class Document:
    """One document between parsing and writing.

    ``origin`` is ``<input-file-index>:<line or row>`` and identifies the raw record for
    ``rejected/`` and ``quarantine/`` entries and as the last tie-breaker in every sort.
    """

    id: str
    text: str
    timestamp: int | None
    source: str | None = None
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""
    orig_chars: int = 0
    signals: dict[str, float] = field(default_factory=dict)
    images: list[Any] = field(default_factory=list)  # curate.images.ImageRecord, in order
    split: str | None = None
    period: str | None = None

    def sort_key(self) -> tuple[int, str, str]:
        """Earliest timestamp first, ties broken by id, then by input position."""
        ts = SORT_LAST if self.timestamp is None else self.timestamp
        return (ts, self.id, origin_sort_key(self.origin))


def origin_sort_key(origin: str) -> str:
    """Zero-padded origin so that string order equals (file, line) order."""
    file_idx, _, pos = origin.partition(":")
    return f"{int(file_idx):08d}:{int(pos):012d}" if pos.isdigit() else origin


def origin_key(origin: str) -> int:
    """A document's vertex in the duplicate graph: its input file and position in one int
    (positions below 2**40), which moves through the shuffles lighter than a rank tuple."""
    file_idx, _, pos = origin.partition(":")
    return (int(file_idx) << 40) | int(pos)


def vertex_file(vertex):
    """The input file of a vertex (or of an array of them)."""
    return vertex >> 40


IMAGE_STRUCT = pa.struct(
    [
        pa.field("bytes", pa.large_binary(), nullable=False),  # as stored (original by default)
        pa.field("format", pa.string(), nullable=False),
        pa.field("width", pa.uint32(), nullable=False),
        pa.field("height", pa.uint32(), nullable=False),
        pa.field("pixel_hash", pa.binary(16), nullable=False),
        pa.field("phash", pa.uint64(), nullable=False),
        pa.field("token_pos", pa.uint32(), nullable=False),  # its image token in input_ids
    ]
)


def shard_schema(signal_names: list[str], keep_text: bool, images: bool = False) -> pa.Schema:
    """Columns of every token shard; ``signals`` holds one float column per filter signal;
    multimodal corpora add ``images``, a list of IMAGE_STRUCT per document."""
    fields = [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("source", pa.string()),
        pa.field("url", pa.string()),
        pa.field("input_ids", pa.list_(pa.uint32()), nullable=False),
        pa.field("n_tokens", pa.uint32(), nullable=False),
        pa.field("orig_chars", pa.uint32(), nullable=False),
        pa.field("metadata", pa.string()),
    ]
    if keep_text:
        fields.append(pa.field("text", pa.large_string()))
    if images:
        fields.append(pa.field("images", pa.list_(IMAGE_STRUCT)))
    if signal_names:
        fields.append(
            pa.field("signals", pa.struct([pa.field(n, pa.float64()) for n in signal_names]))
        )
    return pa.schema(fields)


def metadata_json(metadata: dict[str, Any]) -> str | None:
    """Canonical JSON so that the same metadata gives the same bytes on every worker."""
    if not metadata:
        return None
    return json.dumps(metadata, sort_keys=True, ensure_ascii=False, default=str)
