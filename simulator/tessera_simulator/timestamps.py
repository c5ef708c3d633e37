"""Simulated time as integer milliseconds since the epoch, and its text forms.

Every timestamp the simulator writes comes from here, so all of them are simulated
(never the wall clock) and share one precision: milliseconds, UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: Relative weight of each UTC hour for people's activity (night is quiet).
ACTIVITY_BY_HOUR = np.array(
    [1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 4, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 4.5, 5, 5.5, 5.5, 4.5, 3, 2],
    dtype=float,
)
#: Shops trade from 08:00 to 21:00.
SHOP_HOURS = np.array([0.0] * 8 + [1, 2, 2, 3, 4, 3, 3, 3, 4, 5, 5, 4, 3] + [0.0] * 3)


def day_start_ms(day: date) -> int:
    """Milliseconds at 00:00 UTC of `day`."""
    return datetime_to_ms(datetime(day.year, day.month, day.day, tzinfo=UTC))


def datetime_to_ms(moment: datetime) -> int:
    """A datetime as epoch milliseconds; a naive one is taken to be UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * DAY_MS) + (delta.seconds * SECOND_MS) + (delta.microseconds // 1000)


def ms_to_datetime(ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))


def iso_ms(ms: int) -> str:
    """`2025-03-01T10:00:00.123Z`: the one text form the APIs and files use."""
    return ms_to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ms) % 1000:03d}Z"


def iso_ms_many(ms: np.ndarray) -> np.ndarray:
    """`iso_ms` for a whole array at numpy speed."""
    text = np.datetime_as_string(np.asarray(ms, dtype="int64").astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "Z").astype(object)


def naive_utc_many(ms: np.ndarray) -> list[datetime]:
    """Naive UTC datetimes, the form a `TIMESTAMP` column without time zone takes."""
    values = np.asarray(ms, dtype="int64").astype("datetime64[ms]").astype("datetime64[us]")
    return values.astype(datetime).tolist()


def parse_iso_ms(text: str) -> int:
    """Parse an ISO 8601 timestamp (`Z`, an offset, or naive meaning UTC) to epoch milliseconds."""
    moment = datetime.fromisoformat(text.strip())
    return datetime_to_ms(moment)


def times_in_day(rng: np.random.Generator, n: int, start_ms: int, by_hour: np.ndarray) -> np.ndarray:
    """`n` moments within the day starting at `start_ms`, spread like `by_hour`."""
    hours = rng.choice(24, size=n, p=by_hour / by_hour.sum())
    return start_ms + hours * HOUR_MS + rng.integers(0, HOUR_MS, size=n)


def late_offsets(rng: np.random.Generator, n: int, max_hours: int = 3) -> np.ndarray:
    """How far before the day's start a late-arriving record is dated (1 s up to `max_hours`)."""
    return rng.integers(SECOND_MS, max_hours * HOUR_MS, size=n)
