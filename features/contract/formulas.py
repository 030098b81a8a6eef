"""Feature and target definitions: each formula written once, evaluated on Polars or NumPy.

A derived feature is plain arithmetic on named inputs. Given Polars columns it builds the
expression the offline tables use; given NumPy arrays it computes the serving path's rows in
microseconds, with no DataFrame to build per request. The same formula, so the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from features.contract.schema import ENTITY, VehicleRecord, columns, polars_schema

RAW_FEATURES: tuple[str, ...] = tuple(c for c in columns(VehicleRecord) if c != ENTITY)

Formula = Callable[[Mapping[str, Any]], Any]
DERIVED: dict[str, Formula] = {
    "price_diff": lambda c: c["actual_price"] - c["recommended_price"],
    "price_ratio": lambda c: c["actual_price"] / c["recommended_price"],
}

_POLARS_COLUMNS = {name: pl.col(name) for name in RAW_FEATURES}
FEATURE_EXPRS: dict[str, pl.Expr] = {
    **_POLARS_COLUMNS,
    **{name: formula(_POLARS_COLUMNS) for name, formula in DERIVED.items()},
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURE_EXPRS)
# Every model takes FEATURE_NAMES as input; a family may use only a subset of them. "seed" is
# the set the marketplace's original hand-rolled model used (its price signal: price_diff).
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "all": FEATURE_NAMES,
    "seed": ("technology", "num_images", "street_parked", "description", "price_diff"),
}
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


def feature_matrix(listings: Sequence[Any]) -> np.ndarray:
    """Float64 model inputs, one row per validated listing (any object with the raw attributes,
    id or not), columns in FEATURE_NAMES order. Formulas run on NumPy columns: µs per row."""
    raw = {
        name: np.fromiter((getattr(x, name) for x in listings), np.float64, len(listings))
        for name in RAW_FEATURES
    }
    derived = [formula(raw) for formula in DERIVED.values()]
    return np.column_stack([*raw.values(), *derived])
