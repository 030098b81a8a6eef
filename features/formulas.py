"""Feature and target definitions as Polars expressions, usable on a batch or on one row."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from features.schema import ENTITY, VehicleRecord, columns, polars_schema

RAW_FEATURES: tuple[str, ...] = tuple(c for c in columns(VehicleRecord) if c != ENTITY)

FEATURE_EXPRS: dict[str, pl.Expr] = {
    **{name: pl.col(name) for name in RAW_FEATURES},
    "price_diff": pl.col("actual_price") - pl.col("recommended_price"),
    "price_ratio": pl.col("actual_price") / pl.col("recommended_price"),
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_EXPRS)
TARGET = "num_reservations"
TARGET_AGG = pl.len().cast(pl.Int64).alias(TARGET)  # reservations per vehicle
FIRST_SEEN = "first_seen_at"


def feature_columns() -> list[pl.Expr]:
    """The model's inputs, named, in contract order."""
    return [expr.alias(name) for name, expr in FEATURE_EXPRS.items()]


def with_features(vehicles: pl.LazyFrame) -> pl.LazyFrame:
    """Vehicle id plus every feature, computed from raw vehicle columns."""
    return vehicles.select(pl.col(ENTITY), *feature_columns())


def features_of(records: Iterable[VehicleRecord]) -> pl.DataFrame:
    """Features of validated records (one or many) with the same formulas as the batch path."""
    rows = [r.model_dump() for r in records]
    frame = pl.DataFrame(rows, schema=polars_schema(VehicleRecord), orient="row")
    return with_features(frame.lazy()).collect()
