"""Build configuration: a YAML file validated into typed models, with errors that name the key."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curate.core.images import FORMATS
from filters.registry import DEFAULT_FILTERS, DEFAULT_IMAGE_TEXT_FILTERS


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputConfig(_Strict):
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


class NearDedupConfig(_Strict):
    threshold: float = Field(default=0.8, gt=0, lt=1)
    num_perm: int = Field(default=128, ge=16, le=1024)
    ngram: int = Field(default=5, ge=1, le=8)
    seed: int = Field(default=1, ge=0, le=2**32 - 1)
    candidate_threshold: float = Field(default=0.7, gt=0, lt=1)  # LSH bands x rows tuned here
    false_positive_weight: float = Field(default=0.1, ge=0, le=1)
    false_negative_weight: float = Field(default=0.9, ge=0, le=1)
    # keep a candidate pair only if its Jaccard >= threshold: exact on the shingle sets
    # ("true"), from the signatures ("estimated"), or keep every LSH candidate ("none")
    verify: Literal["true", "estimated", "none"] = "true"
    # larger buckets: star to the first, plus a chain
    max_bucket: int = Field(default=8, ge=2, le=1_000_000)
    cc_rounds: int = Field(default=10, ge=1, le=64)
    # a later split's document this similar to an earlier split's is removed too (lightly
    # edited copies below ``threshold``); only across splits, counted apart
    cross_split_threshold: float | None = Field(default=None, gt=0, lt=1)

    @model_validator(mode="after")
    def _cross_below(self) -> NearDedupConfig:
        if self.cross_split_threshold is not None:
            if self.cross_split_threshold >= self.threshold:
                raise ValueError("cross_split_threshold must be below threshold")
            if self.verify == "none":
                raise ValueError("cross_split_threshold needs verify: true or estimated")
        return self


class LineDedupConfig(_Strict):
    unit: Literal["line", "paragraph"] = "line"
    min_chars: int = Field(default=20, ge=1, le=1_000_000)  # shorter units stay
    # a unit in this many documents is boilerplate
    min_docs: int = Field(default=2, ge=2, le=2**31 - 1)


class PerceptualDedupConfig(_Strict):
    """Image near-duplicates: 64-bit pHash within ``max_distance`` bits. Candidates share one
    of ``max_distance + 1`` bands of the hash (by the pigeonhole principle every pair within
    the distance does), then the distance is checked exactly. Bands narrow as the distance
    grows, so candidates per image grow as (d + 1) * N / 2 ** (64 / (d + 1)) / 2 for N images:
    4 (13-bit bands) finds every resized or re-compressed copy in BENCHMARKS.md and stays cheap;
    8 also finds most small crops and watermarks but checks ~70 pairs per image at 2,000."""

    max_distance: int = Field(default=4, ge=0, le=20)
    max_bucket: int = Field(default=64, ge=2, le=1_000_000)
    cc_rounds: int = Field(default=10, ge=1, le=64)


class DedupConfig(_Strict):
    exact: bool = True  # image_text: on the decoded pixels of the image
    near: NearDedupConfig | None = None
    perceptual: PerceptualDedupConfig | None = None  # image_text only

    lines: LineDedupConfig | None = None
    buckets: int = Field(default=64, gt=0, le=65536)


class BenchmarkConfig(_Strict):
    """An evaluation file: JSONL (compressed or not) or Parquet; ``text`` is a field name or a
    template of fields (``"{question}\\n{answer}"``)."""

    path: str = Field(min_length=1)
    name: str | None = None  # default: the file name without its extensions
    text: str = Field(default="text", min_length=1)
    id_field: str = "id"
    released: date | None = None  # curate drift reports contamination before and after it


class DecontaminationConfig(_Strict):
    """Documents that share n-grams with evaluation items (docs/decontamination.md)."""

    benchmarks: list[BenchmarkConfig] = Field(default_factory=list)
    index: str | None = Field(default=None, min_length=1)  # saved by `curate decontam-index`
    ngram: int = Field(default=13, ge=5, le=64)
    min_item_words: int = Field(default=8, ge=3, le=64)
    max_items_per_ngram: int = Field(default=10, ge=1, le=2**31 - 1)
    action: Literal["flag", "remove_document", "remove_span"] = "remove_document"
    # an item counts when this share of its n-grams is in the document (0: any one n-gram)
    min_overlap: float = Field(default=0.2, ge=0, le=1)

    @model_validator(mode="after")
    def _one_source(self) -> DecontaminationConfig:
        if bool(self.benchmarks) == (self.index is not None):
            raise ValueError("give either 'benchmarks' (evaluation files) or 'index', not both")
        if self.min_item_words > self.ngram:
            raise ValueError("min_item_words must not be larger than ngram")
        return self


class TokenizerTrainConfig(_Strict):
    vocab_size: int = Field(default=32000, ge=300, le=2**24)  # token ids are uint32
    sample_docs: int = Field(default=10000, gt=0, le=100_000_000)
    min_frequency: int = Field(default=2, ge=1, le=2**31 - 1)


class TokenizerConfig(_Strict):
    path: str | None = None
    train: TokenizerTrainConfig | None = None
    eos_token: str = "<|endoftext|>"
    image_token: str = "<|image|>"  # added for multimodal builds; marks where each image goes
    fast: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> TokenizerConfig:
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of 'path' or 'train'")
        return self


def _parse_bound(value: Any) -> datetime | None:
    from curate.core.timeparse import parse_timestamp_us, us_to_datetime

    if value is None:
        return None
    if isinstance(value, datetime | date):
        value = value.isoformat()
    return us_to_datetime(parse_timestamp_us(value))


_SPLIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def _check_split_name(name: Any) -> None:
    """Split names become directory names (``tokens/split=<name>/``): no path tricks."""
    if not isinstance(name, str) or not _SPLIT_NAME.fullmatch(name):
        raise ValueError(
            f"split name {name!r}: use 1-64 letters, digits, '_' or '-', starting with a letter "
            "or digit (it becomes a directory name)"
        )


class HeldOutConfig(_Strict):
    """An in-period held-out split (as Wild-Time): ``fraction`` of every period's documents,
    chosen by a stable hash of the id, for in-distribution evaluation."""

    fraction: float = Field(default=0.1, gt=0, lt=1)
    split: str = "heldout"
    seed: int = Field(default=0, ge=0, le=2**32 - 1)

    @field_validator("split")
    @classmethod
    def _name(cls, v: str) -> str:
        _check_split_name(v)
        return v


class WindowsConfig(_Strict):
    """Evaluation windows over the periods, recorded in the manifest (no data is copied):
    ``next_k``: train on every period up to one, evaluate on the next ``eval_periods``;
    ``rolling``: train on the last ``train_periods`` periods only."""

    kind: Literal["next_k", "rolling"] = "next_k"
    train_periods: int = Field(default=4, ge=1, le=100_000)
    eval_periods: int = Field(default=1, ge=1, le=100_000)
    step: int = Field(default=1, ge=1, le=100_000)


class TemporalConfig(_Strict):
    # crawl: each crawl snapshot (a web archive's ``isPartOf``, e.g. CC-MAIN-2020-34) a period
    period: Literal["month", "quarter", "year", "crawl"] = "quarter"
    undated: Literal["quarantine", "keep"] = "quarantine"
    undated_split: str = "train"
    min_time: datetime = Field(default=datetime.fromisoformat("1971-01-01T00:00:00+00:00"))
    max_time: datetime = Field(default=datetime.fromisoformat("2100-01-01T00:00:00+00:00"))
    splits: dict[str, tuple[datetime | None, datetime | None]] = Field(
        default_factory=lambda: {"train": (None, None)}
    )
    held_out: HeldOutConfig | None = None
    # a size-matched control for the training split (Mind the Gap): documents sampled by a
    # stable hash across the whole span, recorded in the manifest as a view
    control: bool = False
    windows: WindowsConfig | None = None
    # a later split's near or exact copy of an earlier split's document: removed ("drop"),
    # or kept with metadata ``leaked_from`` naming the kept copy ("flag")
    cross_split_duplicates: Literal["drop", "flag"] = "drop"

    @field_validator("undated_split")
    @classmethod
    def _undated_split(cls, v: str) -> str:
        _check_split_name(v)
        return v

    @field_validator("min_time", "max_time", mode="before")
    @classmethod
    def _bound(cls, v: Any) -> datetime:
        parsed = _parse_bound(v)
        if parsed is None:
            raise ValueError("must be a date or time")
        return parsed

    @field_validator("splits", mode="before")
    @classmethod
    def _splits(cls, v: Any) -> dict[str, tuple[datetime | None, datetime | None]]:
        if not isinstance(v, dict) or not v:
            raise ValueError("must map split names to [start, end) pairs")
        out = {}
        for name, bounds in v.items():
            _check_split_name(name)
            if not isinstance(bounds, list | tuple) or len(bounds) != 2:
                raise ValueError(f"split {name!r}: expected [start, end], got {bounds!r}")
            try:
                out[str(name)] = (_parse_bound(bounds[0]), _parse_bound(bounds[1]))
            except ValueError as e:
                raise ValueError(f"split {name!r}: {e}") from None
        return out

    @model_validator(mode="after")
    def _no_overlap(self) -> TemporalConfig:
        lo = datetime.min.replace(tzinfo=self.min_time.tzinfo)
        hi = datetime.max.replace(tzinfo=self.min_time.tzinfo)
        spans = sorted((s or lo, e or hi, n) for n, (s, e) in self.splits.items())
        for start, end, name in spans:
            if start >= end:
                raise ValueError(f"split {name!r} is empty: start must be before end")
        for (_, e1, n1), (s2, _, n2) in zip(spans, spans[1:], strict=False):
            if s2 < e1:
                raise ValueError(f"splits {n1!r} and {n2!r} overlap")
        if self.min_time >= self.max_time:
            raise ValueError("min_time must be before max_time")
        if self.held_out is not None and self.held_out.split in self.splits:
            raise ValueError(f"held_out.split {self.held_out.split!r} is also a time split")
        return self


class ImageStoreConfig(_Strict):
    mode: Literal["original", "reencode"] = "original"
    format: Literal["JPEG", "WEBP", "PNG"] = "JPEG"
    max_side: int = Field(default=512, ge=16, le=65_535)
    quality: int = Field(default=90, ge=1, le=100)


class ImagesConfig(_Strict):
    max_bytes: int = Field(default=20_000_000, gt=0, le=2**31 - 1)
    max_pixels: int = Field(default=89_478_485, gt=0, le=2**32)  # Pillow's default bomb limit
    formats: tuple[str, ...] = FORMATS
    store: ImageStoreConfig = ImageStoreConfig()
    max_images: int = Field(default=64, ge=1, le=100_000)  # per document (interleaved)

    def limits(self):
        from curate.core.images import ImageLimits

        return ImageLimits(self.max_bytes, self.max_pixels, tuple(self.formats))

    def policy(self):
        from curate.core.images import StorePolicy

        return StorePolicy(**self.store.model_dump())


class OutputConfig(_Strict):
    dir: str = Field(min_length=1)
    # where intermediate files go (default: inside the build's staging folder in ``dir``); a
    # build creates and deletes only its own uniquely named subfolder here
    work_dir: str | None = Field(default=None, min_length=1)
    shard_tokens: int = Field(default=50_000_000, gt=0, le=2**31 - 1)
    shard_image_bytes: int = Field(default=1_000_000_000, gt=0, le=2**40)  # image data per shard
    rows_per_batch: int = Field(default=1024, gt=0, le=1_000_000)
    keep_text: bool = True
    run_bytes: int = Field(default=64_000_000, gt=0, le=2**40)


class BuildConfig(_Strict):
    input: InputConfig
    filters: list[dict[str, dict[str, Any]]] = Field(
        default_factory=lambda: [dict(f) for f in DEFAULT_FILTERS]
    )
    dedup: DedupConfig = DedupConfig()
    tokenizer: TokenizerConfig
    temporal: TemporalConfig = TemporalConfig()
    images: ImagesConfig = ImagesConfig()
    decontamination: DecontaminationConfig | None = None
    output: OutputConfig

    @model_validator(mode="before")
    @classmethod
    def _default_chain(cls, data: Any) -> Any:
        """Image-text pairs get a chain made for captions unless the config names one."""
        if isinstance(data, dict) and "filters" not in data:
            inp = data.get("input")
            modality = inp.get("modality", "text") if isinstance(inp, dict) else None
            if modality == "image_text":
                data = {**data, "filters": [dict(f) for f in DEFAULT_IMAGE_TEXT_FILTERS]}
        return data

    @model_validator(mode="after")
    def _dedup_fits_modality(self) -> BuildConfig:
        image_text = self.input.modality == "image_text"
        if self.dedup.perceptual is not None and not image_text:
            raise ValueError("dedup.perceptual needs input.modality: image_text")
        if self.dedup.near is not None and image_text:
            raise ValueError("dedup.near compares texts; for image_text use dedup.perceptual")
        return self

    @property
    def multimodal(self) -> bool:
        return self.input.modality != "text"

    @field_validator("filters", mode="before")
    @classmethod
    def _filters(cls, v: Any) -> list[dict[str, dict[str, Any]]]:
        if v is None:
            return []
        if not isinstance(v, list):
            raise ValueError("must be a list of {filter_name: {parameters}}")
        out = []
        for i, item in enumerate(v):
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"item {i}: expected one {{filter_name: {{parameters}}}}")
            ((name, params),) = item.items()
            out.append({name: params or {}})
        return out

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    def config_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()
