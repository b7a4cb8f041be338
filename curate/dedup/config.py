"""The ``dedup:`` section of a build config: exact, near (MinHash-LSH for text, perceptual
hashes for images) and line-level deduplication."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from curate.core.config import Strict


class NearDedupConfig(Strict):
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


class LineDedupConfig(Strict):
    unit: Literal["line", "paragraph"] = "line"
    min_chars: int = Field(default=20, ge=1, le=1_000_000)  # shorter units stay
    # a unit in this many documents is boilerplate
    min_docs: int = Field(default=2, ge=2, le=2**31 - 1)


class PerceptualDedupConfig(Strict):
    """Image near-duplicates: 64-bit pHash within ``max_distance`` bits. Candidates share one
    of ``max_distance + 1`` bands of the hash (by the pigeonhole principle every pair within
    the distance does), then the distance is checked exactly. Bands narrow as the distance
    grows, so candidates per image grow as (d + 1) * N / 2 ** (64 / (d + 1)) / 2 for N images:
    4 (13-bit bands) finds every resized or re-compressed copy in BENCHMARKS.md and stays cheap;
    8 also finds most small crops and watermarks but checks ~70 pairs per image at 2,000."""

    max_distance: int = Field(default=4, ge=0, le=20)
    max_bucket: int = Field(default=64, ge=2, le=1_000_000)
    cc_rounds: int = Field(default=10, ge=1, le=64)


class DedupConfig(Strict):
    exact: bool = True  # image_text: on the decoded pixels of the image
    near: NearDedupConfig | None = None
    perceptual: PerceptualDedupConfig | None = None  # image_text only

    lines: LineDedupConfig | None = None
    buckets: int = Field(default=64, gt=0, le=65536)
