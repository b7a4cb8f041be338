"""Assign each document its temporal split and calendar period."""

from __future__ import annotations

from curate.config import TemporalConfig
from curate.schema import UNDATED
from curate.timeparse import datetime_to_us, period_of

_LO, _HI = -(2**63), 2**63 - 1


class TemporalAssigner:
    """Splits are half-open ``[start, end)`` intervals; an open bound is null in the config."""

    def __init__(self, cfg: TemporalConfig):
        self.period_unit = cfg.period
        self.undated_split = cfg.undated_split
        self.spans = sorted(
            (
                _LO if start is None else datetime_to_us(start),
                _HI if end is None else datetime_to_us(end),
                name,
            )
            for name, (start, end) in cfg.splits.items()
        )

    def assign(self, timestamp: int | None) -> tuple[str | None, str]:
        """``(split, period)``; split is None when the time falls in no configured split."""
        if timestamp is None:
            return self.undated_split, UNDATED
        for start, end, name in self.spans:
            if start <= timestamp < end:
                return name, period_of(timestamp, self.period_unit)
        return None, period_of(timestamp, self.period_unit)
