"""The ``temporal:`` section of a build config: periods, time splits (half-open intervals),
the in-period held-out split, evaluation windows and the size-matched control."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from curate.core.config import Strict


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


class HeldOutConfig(Strict):
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


class WindowsConfig(Strict):
    """Evaluation windows over the periods, recorded in the manifest (no data is copied):
    ``next_k``: train on every period up to one, evaluate on the next ``eval_periods``;
    ``rolling``: train on the last ``train_periods`` periods only."""

    kind: Literal["next_k", "rolling"] = "next_k"
    train_periods: int = Field(default=4, ge=1, le=100_000)
    eval_periods: int = Field(default=1, ge=1, le=100_000)
    step: int = Field(default=1, ge=1, le=100_000)


class TemporalConfig(Strict):
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
