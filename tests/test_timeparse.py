from datetime import datetime, timezone

import pytest

from curate.core.timeparse import TimestampError, parse_timestamp_us, period_of, us_to_iso


def us(*args, tz=timezone.utc):
    return int(datetime(*args, tzinfo=tz).timestamp() * 1_000_000)


@pytest.mark.parametrize(
    "value, expected",
    [
        ("2019-03-04T05:06:07Z", us(2019, 3, 4, 5, 6, 7)),
        ("2019-03-04T05:06:07+02:00", us(2019, 3, 4, 3, 6, 7)),
        ("2019-03-04T05:06:07", us(2019, 3, 4, 5, 6, 7)),  # naive means UTC
        ("2019-03-04 05:06:07.250000", us(2019, 3, 4, 5, 6, 7) + 250_000),
        ("2019-03-04", us(2019, 3, 4)),
        (1551675967, us(2019, 3, 4, 5, 6, 7)),  # epoch seconds
        (1551675967000, us(2019, 3, 4, 5, 6, 7)),  # epoch milliseconds
        ("1551675967", us(2019, 3, 4, 5, 6, 7)),
        (1551675967.5, us(2019, 3, 4, 5, 6, 7) + 500_000),
    ],
)
def test_parses_common_forms(value, expected):
    assert parse_timestamp_us(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "last Tuesday",
        "",
        "2019-13-45",
        None,
        True,
        [2019],
        float("nan"),
        float("inf"),
        "0000-01-01",
        1e300,
    ],
)
def test_rejects_unreadable(value):
    with pytest.raises(TimestampError):
        parse_timestamp_us(value)


def test_periods_and_iso():
    t = us(2020, 8, 31, 23, 59, 59)
    assert period_of(t, "year") == "2020"
    assert period_of(t, "quarter") == "2020-Q3"
    assert period_of(t, "month") == "2020-08"
    assert us_to_iso(t) == "2020-08-31T23:59:59Z"
