"""fleetcast's two clocks: which rule reads which, and their spellings.

**The data clock** is the latest `created_at` the raw store holds (its manifest's `clock`). Every
rule about the data reads it and nothing else: a build's default `as_of` (`as_of_after`), so
labels, listing age (`valid_from` is the data clock when a listing arrives) and snapshot ids all
follow the data. A replay of last year's files therefore gives the answers it gave live, and a
daily file that lands a day late changes nothing. To replay or backfill a past day, pass
`as_of` explicitly.

**The wall clock** (`now`) only stamps events: when a model was trained or promoted, when a
prediction was served, when a report was written. Windows over events (the drift flow's last
N days of predictions) use it. The one bridge between the two: a prediction's data time is the
`as_of` of the snapshot that was the latest when it was served (`flows/monitor/drift_data.py`).

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


def as_of_after(data_clock: dt.datetime | None) -> dt.datetime:
    """The default `as_of` of a build: the first whole second after the data clock, so every
    stored reservation counts (labels count those strictly before `as_of`). A store with no
    reservations has no data clock; its build is cut now, which no label depends on."""
    if data_clock is None:
        return naive_now().replace(microsecond=0)
    return data_clock.replace(microsecond=0) + dt.timedelta(seconds=1)


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
