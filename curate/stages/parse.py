"""Turn a raw record into a Document, or say exactly why it cannot be one."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curate.core.document import IMAGE_PLACEHOLDER, Document
from curate.core.images import ImageError, ImageRecord, inspect_image
from curate.core.normalize import normalize_text
from curate.core.timeparse import TimestampError, datetime_to_us, parse_timestamp_us, us_to_iso
from curate.readers.config import InputConfig
from curate.readers.records import BadRecord, Resume, SkippedRecord
from curate.stages.config import ImagesConfig
from curate.temporal.config import TemporalConfig
from curate.web.documents import read_records

IMAGE_EXTS = ("jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff")


class RecordError(ValueError):
    """A record that goes to quarantine; ``kind`` is the stats key."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind


class RecordParser:
    """Maps configured field names onto the Document schema and validates the timestamp."""

    def __init__(
        self, inp: InputConfig, temporal: TemporalConfig, images: ImagesConfig | None = None
    ):
        self.inp = inp
        images = images or ImagesConfig()
        self.image_limits, self.image_policy = images.limits(), images.policy()
        self.max_images = images.max_images
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
        if inp.modality == "image_text":
            self._named |= {inp.image_field, "txt", "caption", "__key__", *IMAGE_EXTS}
        elif inp.modality == "interleaved":
            self._named.add(inp.segments_field)

    def parse(self, value: Any, origin: str, source_path: str | None = None) -> Document:
        """``source_path`` is the input file: image paths in records are relative to it."""
        inp = self.inp
        if not isinstance(value, dict):
            raise RecordError(
                "not_an_object", f"record is a JSON {type(value).__name__}, not an object"
            )
        images: list[ImageRecord] = []
        if inp.modality == "image_text":
            text = lookup(value, inp.text_field)
            if text is None:
                text = value.get("txt", value.get("caption"))
            images.append(self._image(self._image_bytes(value, source_path)))
        elif inp.modality == "interleaved":
            text = self._segments(lookup(value, inp.segments_field), source_path, images)
        else:
            text = lookup(value, inp.text_field)
        if text is None:
            raise RecordError("missing_text", f"no {inp.text_field!r} field, or it is null")
        if isinstance(text, bytes):  # Parquet written without a string annotation (old Spark)
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as e:
                raise RecordError("invalid_utf8", f"{inp.text_field!r}: {e}") from None
        if not isinstance(text, str):
            raise RecordError(
                "bad_type", f"{inp.text_field!r} is a {type(text).__name__}, not a string"
            )
        if len(text) * 4 > inp.max_doc_bytes and len(text.encode("utf-8")) > inp.max_doc_bytes:
            raise RecordError("too_large", f"text is over the limit of {inp.max_doc_bytes} bytes")
        timestamp = self._timestamp(lookup(value, inp.time_field))
        doc_id = lookup(value, inp.id_field)
        if doc_id is None:
            h = hashlib.blake2b(text.encode("utf-8"), digest_size=12)
            for im in images:
                h.update(im.pixel_hash)
            doc_id = h.hexdigest()
        elif isinstance(doc_id, str | int) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        else:
            raise RecordError("bad_type", f"{inp.id_field!r} is a {type(doc_id).__name__}")
        source = _optional_str(value, inp.source_field) or inp.default_source
        url = _optional_str(value, inp.url_field)
        metadata = {
            k: v for k, v in value.items() if k not in self._named and not isinstance(v, bytes)
        }
        if inp.crawl_field != "crawl":  # the document's crawl, by the name periods read
            crawl = lookup(value, inp.crawl_field)
            if isinstance(crawl, str) and crawl.strip():
                metadata["crawl"] = crawl
        if images and inp.modality == "image_text":
            text = text.replace(IMAGE_PLACEHOLDER, " ")
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
            images=images,
        )

    def _image(self, data: bytes) -> ImageRecord:
        try:
            return inspect_image(data, self.image_limits, self.image_policy)
        except ImageError as e:
            raise RecordError(e.kind, str(e)) from None

    def _image_bytes(self, value: dict, source_path: str | None) -> bytes:
        """The image of an image-text record: ``image_field`` as bytes, a relative path, or a
        ``{bytes, path}`` struct (Hugging Face's Image feature); else a WebDataset member."""
        ref = lookup(value, self.inp.image_field)
        if ref is None:
            ref = next((value[e] for e in IMAGE_EXTS if e in value), None)
        if isinstance(ref, dict):
            ref = ref.get("bytes") or ref.get("path")
        if isinstance(ref, bytes | bytearray | memoryview):
            return bytes(ref)
        if isinstance(ref, str):
            return self._read_relative(ref, source_path)
        if ref is None:
            raise RecordError("missing_image", f"no {self.inp.image_field!r} field or image member")
        raise RecordError("bad_type", f"image is a {type(ref).__name__}, not bytes or a path")

    def _read_relative(self, rel: str, source_path: str | None) -> bytes:
        from apache_beam.io.filesystems import FileSystems

        parts = rel.replace("\\", "/").split("/")
        if rel.startswith("/") or "://" in rel or ".." in parts or source_path is None:
            raise RecordError("unsafe_path", f"image path {rel!r} is not relative to the input")
        base = source_path.rsplit("/", 1)[0]
        path = FileSystems.join(base, *parts)
        limit = self.image_limits.max_bytes
        try:
            with FileSystems.open(path, compression_type="uncompressed") as f:
                data = f.read(limit + 1)
        except Exception as e:  # noqa: BLE001 - any failure to read names the file
            raise RecordError("image_missing", f"cannot read image {rel!r}: {e}") from None
        if len(data) > limit:
            raise RecordError("image_too_large", f"image {rel!r} is over {limit} bytes")
        return data

    def _segments(self, segments: Any, source_path: str | None, images: list) -> str:
        """Interleaved text: text segments as paragraphs, each image as a placeholder paragraph
        (U+FFFC) at its place; placeholders inside the text itself are blanked."""
        field_name = self.inp.segments_field
        if not isinstance(segments, list):
            raise RecordError("bad_type", f"{field_name!r} must be a list of segments")
        parts: list[str] = []
        for i, seg in enumerate(segments):
            where = f"{field_name}[{i}]"
            if not isinstance(seg, dict):
                raise RecordError("bad_type", f"{where} is not an object")
            if isinstance(seg.get("text"), str):
                parts.append(seg["text"].replace(IMAGE_PLACEHOLDER, " "))
                continue
            if isinstance(seg.get("image"), bytes):  # from a web archive
                data = seg["image"]
            elif isinstance(seg.get("image"), str):
                data = self._read_relative(seg["image"], source_path)
            elif isinstance(seg.get("image_base64"), str):
                try:
                    data = base64.b64decode(seg["image_base64"], validate=True)
                except ValueError as e:
                    raise RecordError("image_corrupt", f"{where}: bad base64: {e}") from None
            else:
                raise RecordError("bad_type", f"{where}: expected text, image or image_base64")
            if len(images) >= self.max_images:
                raise RecordError("too_many_images", f"more than {self.max_images} images")
            images.append(self._image(data))
            parts.append(IMAGE_PLACEHOLDER)
        return "\n\n".join(parts)

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
        return us_to_iso(us) or ""


def lookup(value: dict, key: str) -> Any:
    """``value[key]``; a key with dots that is not itself a key walks nested objects
    (``meta.pile_set_name``: The Pile keeps its source there), else None."""
    v = value.get(key)
    if v is None and "." in key and key not in value:
        v = value
        for part in key.split("."):
            if not isinstance(v, dict):
                return None
            v = v.get(part)
    return v


def _optional_str(value: dict, key: str) -> str | None:
    v = lookup(value, key)
    if v is None:
        return None
    if not isinstance(v, str):
        raise RecordError("bad_type", f"{key!r} is a {type(v).__name__}, not a string")
    return v


@dataclass(slots=True)
class Parsed:
    """One input record after reading and parsing: its document, or why it has none (the
    error's kind, message and the raw record as a quarantine entry shows it)."""

    position: int  # line or row in its file
    nbytes: int  # bytes of the record as read (0 when it could not be read)
    doc: Document | None
    error: tuple[str, str, str] | None = None
    skipped: SkippedRecord | None = None  # a web archive's record that is not a document


def read_input(
    path: str, cfg: InputConfig, start: Resume | None = None, unit_bytes: int = 0
) -> Iterator:
    """Every record of one input file as ``input:`` says to read it: a web archive's pages
    through HTML extraction (``curate.web``); from ``start``, with a ``Resume`` between units
    of ``unit_bytes``."""
    return read_records(
        path,
        cfg.format,
        cfg.max_doc_bytes,
        start,
        unit_bytes,
        extractor=cfg.extractor,
        timeout_s=cfg.extract_timeout,
        modality=cfg.modality,
    )


def parse_file(
    parser: RecordParser,
    file_idx: int,
    path: str,
    input_cfg: InputConfig,
    start: Resume | None = None,
    unit_bytes: int = 0,
) -> Iterator[Parsed | Resume]:
    """Every record of one input file, read and parsed: the one read -> parse loop of every
    pass over the inputs (the tokenizer sample, line dedup's scan, the main pass). With
    ``unit_bytes``, the reader's ``Resume`` points come through between records."""
    for rec in read_input(path, input_cfg, start, unit_bytes):
        if isinstance(rec, Resume):
            yield rec
            continue
        if isinstance(rec, BadRecord):
            yield Parsed(rec.position, 0, None, (rec.kind, rec.error, rec.raw))
            continue
        if isinstance(rec, SkippedRecord):
            yield Parsed(rec.position, rec.nbytes, None, skipped=rec)
            continue
        try:
            doc = parser.parse(rec.value, f"{file_idx}:{rec.position}", path)
        except Exception as e:  # noqa: BLE001 - beside RecordError, a bug some record triggers:
            # a dead letter, as for filters, not a failed build
            error = (
                (e.kind, str(e))
                if isinstance(e, RecordError)
                else ("processing_error", f"{type(e).__name__}: {e}"[:500])
            )
            raw = json.dumps(rec.value, ensure_ascii=False, default=_raw_value)[:500]
            yield Parsed(rec.position, rec.nbytes, None, (*error, raw))
            continue
        yield Parsed(rec.position, rec.nbytes, doc)


def _raw_value(v) -> str:
    """How a quarantine entry shows a value JSON cannot: bytes (an image) by their size."""
    return f"<{len(v)} bytes>" if isinstance(v, bytes | bytearray) else str(v)
