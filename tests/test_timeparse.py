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
        # a year and a compact date are not epoch seconds in 1970 (that read them silently so)
        ("2019", us(2019, 1, 1)),
        (2019, us(2019, 1, 1)),
        ("20190304", us(2019, 3, 4)),
        (20190304, us(2019, 3, 4)),
        ("2019-03", us(2019, 3, 1)),
        ("12345678", 12_345_678_000_000),  # 8 digits that are no date stay epoch seconds
        # RFC 2822 / HTTP dates (Last-Modified, RSS pubDate, e-mail)
        ("Mon, 04 Mar 2019 05:06:07 GMT", us(2019, 3, 4, 5, 6, 7)),
        ("4 Mar 2019 07:06:07 +0200", us(2019, 3, 4, 5, 6, 7)),
        # RFC 3339: a leap second (read as the second before it) and a lower-case z
        ("2016-12-31T23:59:60Z", us(2016, 12, 31, 23, 59, 59)),
        ("2016-12-31 23:59:60.5+00:00", us(2016, 12, 31, 23, 59, 59) + 500_000),
        ("2019-03-04t05:06:07z", us(2019, 3, 4, 5, 6, 7)),
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
        "0000",
        "2019-13",
        "Mon, 31 Feb 2019 05:06:07 GMT",
        "4 Mar 19 05:06:07 GMT",  # a 2-digit year: email.utils would guess the century
        "2016-12-31T23:60:00Z",
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
