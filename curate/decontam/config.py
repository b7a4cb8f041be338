"""The ``decontamination:`` section of a build config: the evaluation files (or a saved index),
the n-gram settings and what happens to a document that holds an item."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from curate.core.config import Strict


class BenchmarkConfig(Strict):
    """An evaluation file: JSONL (compressed or not) or Parquet; ``text`` is a field name or a
    template of fields (``"{question}\\n{answer}"``)."""

    path: str = Field(min_length=1)
    name: str | None = None  # default: the file name without its extensions
    text: str = Field(default="text", min_length=1)
    id_field: str = "id"
    released: date | None = None  # curate drift reports contamination before and after it


class DecontaminationConfig(Strict):
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
