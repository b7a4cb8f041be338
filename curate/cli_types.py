"""Argument types of the ``curate`` command line: a value the command cannot use is one line of
usage error, not a traceback or a silent clamp."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def at_least(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` (to ``high``)."""

    def integer(value: str) -> int:
        n = int(value)
        if n < low or (high is not None and n > high):
            bounds = f"at least {low}" if high is None else f"from {low} to {high:,}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {n}")
        return n

    return integer


def fraction(value: str) -> float:
    """An argparse type: a number strictly between 0 and 1."""
    x = float(value)
    if not 0 < x < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {value}")
    return x


def positive(value: str) -> float:
    """An argparse type: a number above 0."""
    x = float(value)
    if not x > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return x


def char_ngrams(value: str) -> tuple[int, int]:
    """An argparse type: ``MIN,MAX`` character n-gram lengths, 1 <= MIN <= MAX <= 10."""
    try:
        low, high = (int(x) for x in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected MIN,MAX such as 4,4, got {value!r}") from None
    if not 1 <= low <= high <= 10:
        raise argparse.ArgumentTypeError(f"need 1 <= MIN <= MAX <= 10, got {value!r}")
    return low, high
