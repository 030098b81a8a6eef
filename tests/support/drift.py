"""Logged predictions for the drift tests, in the prediction log's contract (`LOG_SCHEMA`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import (
    ITEM,
    LOG_SCHEMA,
    LOWER,
    MODEL_VERSION,
    PREDICTED_AT,
    PREDICTION,
    REQUEST_ID,
    ROUTE,
    SHADOW_LOWER,
    SHADOW_PREDICTION,
    SHADOW_UPPER,
    SHADOW_VERSION,
    STREAM_ID,
    UPPER,
)
from features.contract.schema import ENTITY
from features.settings import Settings


def log_rows(
    features: pl.DataFrame,
    predicted_at: dt.datetime | Sequence[dt.datetime],
    predictions: Sequence[float],
    model_version: str,
    vehicle_ids: Sequence[int | None] | None = None,
    bounds: tuple[Sequence[int | None], Sequence[int | None]] | None = None,
    shadow: tuple[str, Sequence[float | None]] | None = None,
) -> pl.DataFrame:
    """One log row per row of `features` (FEATURE_NAMES columns), in `LOG_SCHEMA`; without
    `bounds` (lower and upper per row) the ranges are null, as in logs from before them;
    without `shadow` (a version and its answer per row) no shadow answered."""
    n = features.height
    times = [predicted_at] * n if isinstance(predicted_at, dt.datetime) else list(predicted_at)
    ids = list(vehicle_ids) if vehicle_ids is not None else [None] * n
    lower, upper = bounds if bounds is not None else ([None] * n, [None] * n)
    shadow_version, shadow_answers = shadow if shadow is not None else (None, [None] * n)
    return pl.DataFrame(
        {
            STREAM_ID: [f"1-{i}" for i in range(n)],
            REQUEST_ID: [f"request-{i}" for i in range(n)],
            ITEM: [0] * n,
            PREDICTED_AT: times,
            ROUTE: ["predict_by_id" if i is not None else "predict" for i in ids],
            MODEL_VERSION: [model_version] * n,
            ENTITY: ids,
            **{name: features[name].cast(pl.Float64) for name in FEATURE_NAMES},
            PREDICTION: [float(p) for p in predictions],
            LOWER: list(lower),
            UPPER: list(upper),
            SHADOW_VERSION: [shadow_version] * n,
            SHADOW_PREDICTION: list(shadow_answers),
            SHADOW_LOWER: list(lower) if shadow is not None else [None] * n,
            SHADOW_UPPER: list(upper) if shadow is not None else [None] * n,
        },
        schema=LOG_SCHEMA,
    )


def write_log(settings: Settings, rows: pl.DataFrame, name: str = "1-0") -> None:
    """Store rows where the drain flow would: one Parquet file in the predictions folder."""
    settings.predictions_dir.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(settings.predictions_dir / f"{name}.parquet")
