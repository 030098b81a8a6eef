"""When synthetic bookings happen: weekly, seasonal and hour-of-day rhythms over a year (or one
month of it), never the same second twice for one vehicle."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np

# Booking-time rhythms (relative weights).
WEEKDAY_WEIGHTS = np.array([0.75, 0.8, 0.95, 1.15, 1.3, 1.25, 1.0])  # Monday first
SEASONAL_AMPLITUDE = 0.35  # summer peak / winter trough around the yearly mean
SEASONAL_PEAK_DAY = 196  # mid-July, day of year counted from 0
HOUR_WEIGHTS = np.array(
    [2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 12, 11, 10, 10, 11, 12, 13, 14, 13, 10, 7, 4], float
)
SECONDS_PER_DAY = 86_400


@cache
def _day_weights(year: int) -> np.ndarray:
    """Probability of each day of `year`: seasonal wave times weekday rhythm."""
    first = dt.date(year, 1, 1)
    n_days = (dt.date(year + 1, 1, 1) - first).days
    day = np.arange(n_days)
    season = 1 + SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (day - SEASONAL_PEAK_DAY) / n_days)
    weekday = WEEKDAY_WEIGHTS[(first.weekday() + day) % 7]
    weights = season * weekday
    return weights / weights.sum()


def _month_days(year: int, month: int) -> slice:
    """The days of `month`, counted from the start of `year`."""
    first, end = dt.date(year, 1, 1), dt.date(year + month // 12, month % 12 + 1, 1)
    return slice((dt.date(year, month, 1) - first).days, (end - first).days)


def _period_weights(year: int, month: int | None) -> np.ndarray:
    """Day probabilities of `year`, or of its `month` only (zero elsewhere, renormalized)."""
    weights = _day_weights(year)
    if month is None:
        return weights
    inside, days = np.zeros_like(weights), _month_days(year, month)
    inside[days] = weights[days]
    return inside / inside.sum()


def month_share(year: int, month: int | None) -> float:
    """The share of a year's bookings that falls in `month` (1.0 for the whole year)."""
    return 1.0 if month is None else float(_day_weights(year)[_month_days(year, month)].sum())


def _seconds_in_year(
    rng: np.random.Generator, n: int, year: int, month: int | None = None
) -> np.ndarray:
    """`n` booking times as seconds since the start of `year` (in `month` if given)."""
    days = _period_weights(year, month)
    day = rng.choice(days.size, size=n, p=days)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    second_of_hour = rng.integers(0, 3600, size=n)
    return day * SECONDS_PER_DAY + hour * 3600 + second_of_hour


def booking_times(
    rng: np.random.Generator, owner: np.ndarray, year: int, month: int | None = None
) -> np.ndarray:
    """Booking seconds for each reservation of `owner` (sorted ids), unique per vehicle."""
    seconds = _seconds_in_year(rng, owner.size, year, month)
    while True:
        # Ingest drops exact duplicate rows, so a vehicle must never book the same second twice.
        order = np.lexsort((seconds, owner))
        owner, seconds = owner[order], seconds[order]
        clash = np.flatnonzero((owner[1:] == owner[:-1]) & (seconds[1:] == seconds[:-1])) + 1
        if clash.size == 0:
            return seconds
        seconds[clash] = _seconds_in_year(rng, clash.size, year, month)
