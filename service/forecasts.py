"""A request's forecasts with their ranges, all from one served version, and the bodies that
answer them. The range is the version's own calibration applied to its own values
(`features.contract.intervals`), so a value and its interval cannot come from two versions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.contract.input_ranges import OutOfRange
from features.contract.intervals import METHOD
from features.contract.registry import Tag
from service.champion import Served
from service.model_schemas import FeatureRange, InputRanges, IntervalInfo
from service.prediction_buffer import RequestPredictions
from service.schemas import (
    BatchInputWarning,
    BatchPrediction,
    InputWarning,
    Interval,
    Prediction,
    Registered,
)


@dataclass(frozen=True)
class Forecasts:
    """One request's forecasts and their whole-number ranges, by `version`."""

    version: str
    level: float
    values: np.ndarray
    lower: np.ndarray  # int64
    upper: np.ndarray
    outside: list[OutOfRange]  # inputs beyond the version's training ranges, row by row

    def intervals(self) -> list[Interval]:
        bounds = zip(self.lower.tolist(), self.upper.tolist(), strict=True)
        return [Interval(lower=low, upper=high, level=self.level) for low, high in bounds]

    def logged(
        self,
        request_id: str,
        route: str,
        vehicle_ids: Sequence[int | None],
        features: np.ndarray,
    ) -> RequestPredictions:
        """The answers as the prediction log keeps them, stamped now."""
        return RequestPredictions(
            request_id,
            time.time(),
            route,
            self.version,
            vehicle_ids,
            features,
            self.values,
            self.lower,
            self.upper,
        )


def forecast(served: Served, features: np.ndarray) -> Forecasts:
    """Predict `features` with `served`, and range each value with its calibration."""
    values = served.predict(features)
    lower, upper = served.calibration.bounds(values)
    outside = served.ranges.outside(features) if served.ranges is not None else []
    return Forecasts(served.version, served.calibration.level, values, lower, upper, outside)


def _warning(found: OutOfRange) -> InputWarning:
    return InputWarning(
        field=found.feature,
        value=found.value,
        low=found.low,
        high=found.high,
        message=found.message,
    )


def prediction(answer: Forecasts) -> Prediction:
    """The body of a one-listing route."""
    return Prediction(
        predicted_reservations=float(answer.values[0]),
        interval=answer.intervals()[0],
        model_version=answer.version,
        warnings=[_warning(found) for found in answer.outside],
    )


def batch_prediction(answer: Forecasts) -> BatchPrediction:
    """The body of /predict_batch: values and ranges in the order of the listings."""
    return BatchPrediction(
        predicted_reservations=answer.values.tolist(),
        intervals=answer.intervals(),
        model_version=answer.version,
        warnings=[
            BatchInputWarning(listing=found.row, **_warning(found).model_dump())
            for found in answer.outside
        ],
    )


def registered(answer: Forecasts, vehicle_id: int) -> Registered:
    """The body of /vehicles: the registered id and its forecast."""
    return Registered(vehicle_id=vehicle_id, **dict(prediction(answer)))


def interval_info(served: Served) -> IntervalInfo:
    """GET /model's `interval`: the calibration served, and its holdout results if judged."""
    return IntervalInfo(
        level=served.calibration.level,
        method=METHOD,
        holdout_coverage=served.holdout_tag(Tag.HOLDOUT_COVERAGE),
        holdout_width=served.holdout_tag(Tag.HOLDOUT_WIDTH),
    )


def ranges_info(served: Served) -> InputRanges | None:
    """GET /model's `input_ranges`: what the served version was trained on."""
    if served.ranges is None:
        return None
    ranges = [
        FeatureRange(field=r.feature, low=r.low, high=r.high, quantiles=r.quantiles)
        for r in served.ranges.ranges
    ]
    return InputRanges(rows=served.ranges.rows, ranges=ranges)
