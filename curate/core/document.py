"""The document record that flows through every stage, and the keys that name it.

Timestamps are integer microseconds since the Unix epoch (UTC) inside the pipeline: they sort,
hash and pickle cheaply, and map one to one onto Arrow's ``timestamp[us, UTC]``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

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
    images: list[Any] = field(default_factory=list)  # curate.core.images.ImageRecord, in order
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


def metadata_json(metadata: dict[str, Any]) -> str | None:
    """Canonical JSON so that the same metadata gives the same bytes on every worker. Strict
    JSON: a NaN or infinity (pandas' missing float) is null, which jq, JavaScript and serde read."""
    if not metadata:
        return None
    try:
        return json.dumps(
            metadata, sort_keys=True, ensure_ascii=False, default=str, allow_nan=False
        )
    except ValueError:
        return json.dumps(json_safe(metadata), sort_keys=True, ensure_ascii=False, default=str)


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity, at any depth, as None: they are not JSON, and
    strict readers (JavaScript, jq, serde) refuse a file that holds one."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value
