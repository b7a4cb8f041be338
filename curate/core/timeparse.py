"""Timestamps from the wild: ISO 8601, plain dates, and epoch seconds or milliseconds."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS_THRESHOLD = 100_000_000_000  # epoch seconds this large would be the year 5138: it is ms


class TimestampError(ValueError):
    """The value is present but is not a timestamp we can read."""


def datetime_to_us(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)  # naive means UTC
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _epoch_to_us(value: float) -> int:
    if math.isnan(value) or math.isinf(value):
        raise TimestampError(f"epoch value {value!r} is not a number")
    scale = 1_000 if abs(value) >= _MS_THRESHOLD else 1_000_000
    us = value * scale
    if abs(us) > 2**62:
        raise TimestampError(f"epoch value {value!r} is out of range")
    return int(round(us))


def parse_timestamp_us(value: object) -> int:
    """Microseconds since the epoch, UTC. Raises TimestampError on anything unreadable.

    Integers and numeric strings are epoch seconds, or milliseconds when at least 1e11.
    """
    if isinstance(value, bool) or value is None:
        raise TimestampError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return _epoch_to_us(float(value) if isinstance(value, float) else value)
    if isinstance(value, datetime):
        return datetime_to_us(value)
    if isinstance(value, date):
        return datetime_to_us(datetime(value.year, value.month, value.day))
    if not isinstance(value, str):
        raise TimestampError(f"not a timestamp: {type(value).__name__} {value!r:.80}")
    s = value.strip()
    if not s:
        raise TimestampError("empty timestamp")
    if _looks_numeric(s):
        return _epoch_to_us(float(s) if any(c in s for c in ".eE") else int(s))
    try:
        return datetime_to_us(datetime.fromisoformat(s.replace(" UTC", "+00:00")))
    except ValueError:
        raise TimestampError(f"unparseable timestamp {s!r:.80}") from None
    except OverflowError:
        raise TimestampError(f"timestamp out of range {s!r:.80}") from None


def _looks_numeric(s: str) -> bool:
    body = s[1:] if s[0] in "+-" else s
    return bool(body) and body.replace(".", "", 1).replace("e", "", 1).isdigit()


def us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def us_to_iso(us: int | None) -> str | None:
    return None if us is None else us_to_datetime(us).isoformat().replace("+00:00", "Z")


def period_of(us: int, unit: str) -> str:
    """Calendar period of a UTC timestamp: ``2019``, ``2019-Q3`` or ``2019-07``."""
    dt = us_to_datetime(us)
    if unit == "year":
        return f"{dt.year:04d}"
    if unit == "quarter":
        return f"{dt.year:04d}-Q{(dt.month - 1) // 3 + 1}"
    if unit == "month":
        return f"{dt.year:04d}-{dt.month:02d}"
    raise ValueError(f"unknown period unit {unit!r}")
