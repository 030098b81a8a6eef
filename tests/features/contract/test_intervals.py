"""The interval contract: conformal coverage on data it was not calibrated on, whole bounds,
and a calibration that survives the trip through a version's tags."""

from __future__ import annotations

import numpy as np
import pytest

from features.contract import intervals
from features.contract.registry import Tag


def _counts(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Over-dispersed counts (negative binomial, variance ~4x the mean) and a model's forecast
    of their mean, off by a little noise, like a real model's."""
    rng = np.random.default_rng(seed)
    mean = rng.gamma(4.0, 1.6, rows)
    dispersion = 2.5
    labels = rng.negative_binomial(dispersion, dispersion / (dispersion + mean))
    forecast = mean * rng.lognormal(0.0, 0.1, rows)
    return labels.astype(np.float64), forecast


@pytest.mark.parametrize("level", [0.8, 0.9, 0.5])
def test_coverage_on_new_data_is_the_level(level: float) -> None:
    calibration = intervals.calibrate(*_counts(2000, seed=1), level=level)
    labels, forecast = _counts(20_000, seed=2)
    low, high = calibration.bounds(forecast)
    assert abs(intervals.coverage(labels, low, high) - level) < 0.02


def test_bounds_are_whole_non_negative_and_ordered() -> None:
    calibration = intervals.calibrate(*_counts(1000, seed=3), level=0.8)
    forecast = np.array([0.0, 0.2, 1.0, 6.4, 30.0, 1e4])
    low, high = calibration.bounds(forecast)
    assert low.dtype == np.int64 and high.dtype == np.int64
    assert (low >= 0).all() and (low <= high).all()
    assert (low[2:] <= forecast[2:]).all() and (forecast[2:] <= high[2:]).all()


def test_the_range_widens_with_the_forecast_like_count_noise() -> None:
    calibration = intervals.calibrate(*_counts(2000, seed=4), level=0.8)
    low, high = calibration.bounds(np.array([2.0, 8.0, 20.0]))
    widths = high - low
    assert widths[0] < widths[1] < widths[2]


def test_rounding_inward_loses_no_integer_outcome() -> None:
    # For an integer outcome, [lo, hi] and [ceil(lo), floor(hi)] hold the same values.
    calibration = intervals.Calibration(level=0.8, lower=-1.01, upper=1.01, rows=10)
    low, high = calibration.bounds(np.array([3.0]))  # spread 2: [0.98, 5.02] -> [1, 5]
    assert (int(low[0]), int(high[0])) == (1, 5)


def test_a_calibration_round_trips_through_tags() -> None:
    calibration = intervals.calibrate(*_counts(500, seed=5), level=0.8)
    assert intervals.from_tags(calibration.tags(), "7") == calibration


def test_missing_or_broken_tags_name_the_version_and_the_key() -> None:
    tags = intervals.calibrate(*_counts(500, seed=6), level=0.8).tags()
    with pytest.raises(
        intervals.CalibrationError, match=f"v7 has no interval.*{Tag.INTERVAL_LOWER}"
    ):
        intervals.from_tags({k: v for k, v in tags.items() if k != Tag.INTERVAL_LOWER}, "7")
    with pytest.raises(intervals.CalibrationError, match="v7: interval calibration tags"):
        intervals.from_tags({**tags, Tag.INTERVAL_UPPER: "wide"}, "7")
    with pytest.raises(intervals.CalibrationError, match="out of range"):
        intervals.from_tags({**tags, Tag.INTERVAL_LEVEL: "1.5"}, "7")


def test_a_level_outside_zero_one_is_refused() -> None:
    with pytest.raises(intervals.CalibrationError, match=r"interval level: 1\.2"):
        intervals.calibrate(np.ones(10), np.ones(10), level=1.2)
