"""The temporal rules every wing applies the same way: a document's split and period, crawl
periods, stable ranks and fractions of an id (held-out splits, controls, samples), the order of
splits and periods, and evaluation windows."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from curate.core.document import UNDATED
from curate.core.timeparse import datetime_to_us, period_of
from curate.temporal.config import TemporalConfig

_LO, _HI = -(2**63), 2**63 - 1


class TemporalAssigner:
    """Splits are half-open ``[start, end)`` intervals; an open bound is null in the config."""

    def __init__(self, cfg: TemporalConfig):
        self.period_unit = cfg.period
        self.held_out = cfg.held_out
        self.undated_split = cfg.undated_split
        self.spans = sorted(
            (
                _LO if start is None else datetime_to_us(start),
                _HI if end is None else datetime_to_us(end),
                name,
            )
            for name, (start, end) in cfg.splits.items()
        )

    def assign(
        self, timestamp: int | None, doc_id: str = "", crawl: str | None = None
    ) -> tuple[str | None, str]:
        """``(split, period)``; split is None when the time falls in no configured split. With
        ``held_out``, a stable share of every period goes to the held-out split instead. With
        ``period: crawl`` the period is the document's crawl (``NO_CRAWL`` without one); splits
        still follow the timestamp."""
        if timestamp is None:
            return self.undated_split, UNDATED
        if self.period_unit == "crawl":
            period = crawl_period(crawl)
        else:
            period = period_of(timestamp, self.period_unit)
        for start, end, name in self.spans:
            if start <= timestamp < end:
                h = self.held_out
                if h is not None and stable_fraction(doc_id, h.seed) < h.fraction:
                    return h.split, period
                return name, period
        return None, period


NO_CRAWL = "no-crawl"
_PERIOD_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def crawl_period(crawl: str | None) -> str:
    """A crawl name as a period (a directory name: anything but letters, digits, ``_``, ``.``
    and ``-`` becomes ``_``)."""
    if not crawl:
        return NO_CRAWL
    return _PERIOD_NAME.sub("_", crawl.strip())[:100] or NO_CRAWL


def stable_rank(doc_id: str, seed: int = 0) -> int:
    """A 64-bit number fixed by the id and the seed: the same on every worker and run."""
    digest = hashlib.blake2b(f"{seed}:{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def stable_fraction(doc_id: str, seed: int = 0) -> float:
    """``stable_rank`` as a number in [0, 1)."""
    return stable_rank(doc_id, seed) / 2**64


def split_ranks(temporal) -> dict[str, int]:
    """Splits in time order (an open start first), the in-period held-out split last: a
    document of a higher rank must not copy one of a lower rank."""
    lo = datetime.min.replace(tzinfo=timezone.utc)
    names = sorted(temporal.splits, key=lambda n: (temporal.splits[n][0] or lo, n))
    if temporal.held_out is not None:
        names.append(temporal.held_out.split)
    return {n: i for i, n in enumerate(names)}


def training_split(splits: dict) -> str:
    """The split a model trains on: ``train``, else the earliest split (an open start, None,
    is the earliest; starts are ISO strings, which sort in time order)."""
    return "train" if "train" in splits else min(splits, key=lambda n: splits[n][0] or "")


def in_time_order(periods: Iterable[str], first: Mapping[str, Any]) -> list[str]:
    """Periods by their earliest document (``first``: a datetime or microseconds; a period
    without one goes last), then by name. Calendar periods come out in name order either way;
    crawl periods (``period: crawl``) come out in the order of their dates, whatever their
    names (Common Crawl's sort by name, other crawlers' need not)."""
    return sorted(periods, key=lambda p: (first.get(p) is None, first.get(p) or 0, p))


def windows(periods: list[str], cfg) -> list[dict]:
    """The evaluation windows over the corpus's periods, given in time order
    (``in_time_order``)."""
    out = []
    first = cfg.train_periods
    for k, end in enumerate(range(first, len(periods) - cfg.eval_periods + 1, cfg.step)):
        start = 0 if cfg.kind == "next_k" else end - cfg.train_periods
        out.append(
            {
                "name": f"w{k:03d}",
                "train": periods[start:end],
                "eval": periods[end : end + cfg.eval_periods],
            }
        )
    return out
