"""The Arrow schema of a corpus's token shards: what every writer writes and every reader
checks (docs/build.md, "Shard schema")."""

from __future__ import annotations

import pyarrow as pa

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
