"""fleetcast's one wall clock and its two spellings.

Data timestamps (`created_at`, `as_of`, `valid_from`) are naive UTC, as the raw CSVs write them;
audit stamps (trained, decided, loaded at) are ISO 8601 with the UTC offset, as MLflow tags and
the HTTP API show them.
"""

from __future__ import annotations

import datetime as dt


def now() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def naive_now() -> dt.datetime:
    """Now, naive UTC: the data's convention."""
    return now().replace(tzinfo=None)


def as_naive_utc(value: dt.datetime) -> dt.datetime:
    """`value` in the data's convention: an aware time converted to UTC, a naive one as it is."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def naive_utc(stamp: str) -> dt.datetime:
    """An ISO timestamp as naive UTC (an audit stamp carries +00:00; a data stamp, nothing)."""
    return as_naive_utc(dt.datetime.fromisoformat(stamp))


def stamp(timespec: str = "seconds") -> str:
    """Now as an audit stamp: ISO 8601 with the UTC offset (`timespec` as isoformat takes it)."""
    return now().isoformat(timespec=timespec)


def compact_stamp() -> str:
    """Now for a file or snapshot name: `YYYYMMDDTHHMMSS`, UTC."""
    return now().strftime("%Y%m%dT%H%M%S")
