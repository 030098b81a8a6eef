"""The data clock's default cut."""

from __future__ import annotations

import datetime as dt

from features.contract import clock


def test_the_default_cut_is_just_after_the_data_clock() -> None:
    last = dt.datetime(2023, 12, 31, 23, 41, 7)
    assert clock.as_of_after(last) == dt.datetime(2023, 12, 31, 23, 41, 8)
    assert clock.as_of_after(last.replace(microsecond=500)) == dt.datetime(2023, 12, 31, 23, 41, 8)


def test_without_a_data_clock_the_cut_is_now_in_whole_seconds() -> None:
    before = clock.naive_now().replace(microsecond=0)
    cut = clock.as_of_after(None)
    assert before <= cut <= clock.naive_now() and cut.microsecond == 0
