"""A build's config: a YAML file validated into typed models, with errors that name the key.
Each section is owned by the wing it configures (``input`` by ``curate.readers.config``,
``dedup`` by ``curate.dedup.config``, ``decontamination`` by ``curate.decontam.config``,
``temporal`` by ``curate.temporal.config``); the tokenizer, images and output sections are the
stages' own, and ``BuildConfig`` assembles them all."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from curate.core.config import Strict
from curate.core.images import FORMATS
from curate.decontam.config import DecontaminationConfig
from curate.dedup.config import DedupConfig
from curate.readers.config import InputConfig
from curate.temporal.config import TemporalConfig
from filters.registry import DEFAULT_FILTERS, DEFAULT_IMAGE_TEXT_FILTERS


class TokenizerTrainConfig(Strict):
    vocab_size: int = Field(default=32000, ge=300, le=2**24)  # token ids are uint32
    sample_docs: int = Field(default=10000, gt=0, le=100_000_000)
    min_frequency: int = Field(default=2, ge=1, le=2**31 - 1)


class TokenizerConfig(Strict):
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


class ImageStoreConfig(Strict):
    mode: Literal["original", "reencode"] = "original"
    format: Literal["JPEG", "WEBP", "PNG"] = "JPEG"
    max_side: int = Field(default=512, ge=16, le=65_535)
    quality: int = Field(default=90, ge=1, le=100)


class ImagesConfig(Strict):
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


class OutputConfig(Strict):
    dir: str = Field(min_length=1)
    # where intermediate files go (default: inside the build's staging folder in ``dir``); a
    # build creates and deletes only its own uniquely named subfolder here
    work_dir: str | None = Field(default=None, min_length=1)
    shard_tokens: int = Field(default=50_000_000, gt=0, le=2**31 - 1)
    shard_image_bytes: int = Field(default=1_000_000_000, gt=0, le=2**40)  # image data per shard
    rows_per_batch: int = Field(default=1024, gt=0, le=1_000_000)
    keep_text: bool = True
    run_bytes: int = Field(default=64_000_000, gt=0, le=2**40)


class BuildConfig(Strict):
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
