"""The ``input:`` section of a build config: where the records are, their format and modality,
and which fields map onto a document."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curate.core.config import Strict


class InputConfig(Strict):
    paths: list[str] = Field(min_length=1)
    # text: one text per record; image_text: an image and its caption (``text_field``);
    # interleaved: an ordered list of text and image segments (``segments_field``)
    modality: Literal["text", "image_text", "interleaved"] = "text"
    format: Literal["auto", "jsonl", "parquet", "webdataset", "warc"] = "auto"
    # web archives: HTML main-content extraction (curate/web/html.py, docs/web.md)
    extractor: Literal["resiliparse", "trafilatura", "fallback"] = "fallback"
    # seconds per page, extraction in a child process; over it: quarantined (0: in process)
    extract_timeout: float = Field(default=10.0, ge=0, le=3600)
    id_field: str = "id"
    text_field: str = "text"
    time_field: str = "timestamp"
    source_field: str = "source"
    url_field: str = "url"
    # the crawl snapshot (temporal.period: crawl) of extracted corpora: FineWeb's ``dump``;
    # web archives name theirs (warcinfo's isPartOf)
    crawl_field: str = "crawl"
    default_source: str | None = None
    image_field: str = "image"  # bytes, a path relative to the input file, or {bytes, path}
    segments_field: str = "content"  # [{"text": ...} | {"image": path} | {"image_base64": ...}]
    max_doc_bytes: int = Field(default=10_000_000, gt=0, le=2**31 - 1)  # Arrow string limit
    batch_size: int = Field(default=512, gt=0, le=1_000_000)
    # a unit of work: a crash costs at most this much input read again (docs/build.md,
    # "Crash and resume"); units end where a reader can start again, so output bytes do not
    # depend on it
    unit_bytes: int = Field(default=16_000_000, gt=0, le=2**40)
