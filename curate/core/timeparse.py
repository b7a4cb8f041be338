"""Timestamps from the wild: ISO 8601 (and RFC 3339's leap second), years, months, plain and
compact dates, RFC 2822 / HTTP dates, and epoch seconds or milliseconds."""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from email.utils import parsedate_to_datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS_THRESHOLD = 100_000_000_000  # epoch seconds this large would be the year 5138: it is ms
_YEAR_MONTH = re.compile(r"(\d{4})-(\d{2})")
# "Tue, 04 Dec 2026 10:00:00 GMT" (HTTP, e-mail, RSS). A 4-digit year only: email.utils reads
# "1 Jan 01" as 2001.
_RFC2822 = re.compile(r"(?:[A-Za-z]{3},\s*)?\d{1,2}\s+[A-Za-z]{3}\s+\d{4}\s+\d{1,2}:\d{2}.*")
# RFC 3339 allows second 60 (a leap second); datetime does not
_LEAP_SECOND = re.compile(r"(\d{2}:\d{2}):60(?=(?:[.,]\d+)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?$)")


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

    Integers and numeric strings are epoch seconds, or milliseconds when at least 1e11, except
    4 digits, a year (``2021``), and 8 that form a date (``20210315``): as epoch seconds those
    would fall in 1970-1973, which no real data means.
    """
    if isinstance(value, bool) or value is None:
        raise TimestampError(f"not a timestamp: {value!r}")
    if isinstance(value, int) and (dt := _calendar_digits(str(value))) is not None:
        return datetime_to_us(dt)
    if isinstance(value, Decimal):  # a Parquet decimal column
        value = float(value)
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
    if (dt := _calendar_digits(s)) is not None:
        return datetime_to_us(dt)
    if _looks_numeric(s):
        return _epoch_to_us(float(s) if any(c in s for c in ".eE") else int(s))
    try:
        return datetime_to_us(datetime.fromisoformat(s.replace(" UTC", "+00:00")))
    except ValueError:
        pass
    except OverflowError:
        raise TimestampError(f"timestamp out of range {s!r:.80}") from None
    try:
        return datetime_to_us(_other_forms(s))
    except (ValueError, OverflowError, IndexError, TypeError):
        raise TimestampError(f"unparseable timestamp {s!r:.80}") from None


def _calendar_digits(s: str) -> datetime | None:
    """``2021`` as a year, ``20210315`` as a date; None when the digits are neither."""
    if len(s) not in (4, 8) or not s.isdigit():
        return None
    try:
        return datetime.fromisoformat(s) if len(s) == 8 else datetime(int(s), 1, 1)
    except ValueError:
        if len(s) == 4:  # "0000": no year, and no epoch either
            raise TimestampError(f"unparseable timestamp {s!r}") from None
        return None


def _other_forms(s: str) -> datetime:
    """What ``fromisoformat`` refuses but a reader of the string would not: a lower-case
    ``z``, a leap second (read as the second before it), ``2021-03`` and RFC 2822 dates."""
    if m := _YEAR_MONTH.fullmatch(s):
        return datetime(int(m[1]), int(m[2]), 1)
    if len(s) < 100 and _RFC2822.fullmatch(s):
        return parsedate_to_datetime(s)
    fixed = _LEAP_SECOND.sub(r"\1:59", s[:-1] + "Z" if s.endswith("z") else s)
    if fixed == s:
        raise ValueError(s)
    return datetime.fromisoformat(fixed.replace(" UTC", "+00:00"))


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
