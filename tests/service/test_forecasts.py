"""The bodies of the predicting routes, from one served version: each value with the range its
calibration gives it, in order, labeled by that version (no server: the service's own parts)."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from features.contract.formulas import FEATURE_NAMES
from features.contract.input_ranges import InputRanges, observe
from features.contract.intervals import METHOD, Calibration
from features.contract.registry import Tag
from service.champion import Served
from service.forecasts import batch_prediction, forecast, interval_info, prediction, registered
from service.schemas import Interval

CALIBRATION = Calibration(level=0.8, lower=-1.2, upper=1.5, rows=900)


def _served(
    values: list[float], tags: dict[str, str] | None = None, ranges: InputRanges | None = None
) -> Served:
    """A version whose model answers `values` (one per row asked)."""
    answers = np.asarray(values, dtype=np.float64)
    return Served(
        version="7",
        run_id="run",
        predict=lambda x: answers[: len(x)],
        calibration=CALIBRATION,
        ranges=ranges,
        backend="sklearn",
        backend_note="",
        tags=tags or {},
        loaded_at="now",
    )


def test_each_value_gets_its_own_range_in_order() -> None:
    values = [0.2, 3.0, 15.7]
    body = batch_prediction(forecast(_served(values), np.zeros((3, 2))))
    low, high = CALIBRATION.bounds(np.asarray(values))
    assert body.predicted_reservations == values and body.model_version == "7"
    assert [(i.lower, i.upper, i.level) for i in body.intervals] == [
        (int(lo), int(hi), 0.8) for lo, hi in zip(low, high, strict=True)
    ]
    assert [(i.lower, i.upper) for i in body.intervals] == [(0, 1), (1, 6), (11, 21)]


def test_single_routes_answer_the_first_value_and_its_range() -> None:
    answer = forecast(_served([4.5]), np.zeros((1, 2)))
    one = prediction(answer)
    assert (one.predicted_reservations, one.interval, one.model_version) == (
        4.5,
        Interval(lower=2, upper=8, level=0.8),
        "7",
    )
    assert registered(answer, 42).model_dump() == {**one.model_dump(), "vehicle_id": 42}


def test_the_log_keeps_the_ranges_answered() -> None:
    answer = forecast(_served([0.2, 3.0]), np.zeros((2, 2)))
    entries = answer.logged("r", "/predict_batch", [None, 5], np.zeros((2, 2))).entries()
    assert [(e.prediction, e.lower, e.upper) for e in entries] == [(0.2, 0, 1), (3.0, 1, 6)]


def test_model_info_shows_the_calibration_and_holdout_results_once_judged() -> None:
    judged = _served([1.0], {Tag.HOLDOUT_COVERAGE: "0.83", Tag.HOLDOUT_WIDTH: "4.5"})
    assert interval_info(judged).model_dump() == {
        "level": 0.8,
        "method": METHOD,
        "holdout_coverage": 0.83,
        "holdout_width": 4.5,
    }
    never = interval_info(_served([1.0]))
    assert (never.holdout_coverage, never.holdout_width) == (None, None)


def test_a_range_is_whole_non_negative_reservations() -> None:
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        Interval(lower=-1, upper=2, level=0.8)
    with pytest.raises(ValidationError, match="valid integer"):
        Interval(lower=1.5, upper=2, level=0.8)


def test_inputs_outside_the_training_ranges_are_answered_with_warnings() -> None:
    width = len(FEATURE_NAMES)
    seen = observe(np.vstack([np.zeros(width), np.full(width, 10.0)]))
    rows = np.full((3, width), 5.0)
    rows[1, 0], rows[2, width - 1] = 1e9, -1e-300
    answer = forecast(_served([1.0, 2.0, 3.0], ranges=seen), rows)
    batch = batch_prediction(answer)
    assert batch.predicted_reservations == [1.0, 2.0, 3.0]  # answered all the same
    assert [(w.listing, w.field, w.value, w.low, w.high) for w in batch.warnings] == [
        (1, FEATURE_NAMES[0], 1e9, 0.0, 10.0),
        (2, FEATURE_NAMES[-1], -1e-300, 0.0, 10.0),
    ]
    assert batch.warnings[0].message.startswith(f"{FEATURE_NAMES[0]}: 1e+09 is outside")
    inside = prediction(forecast(_served([1.0], ranges=seen), rows[:1]))
    assert inside.warnings == []
    unknown = prediction(forecast(_served([1.0]), rows[1:2]))  # a version without ranges
    assert unknown.warnings == []
