"""One evaluation protocol for every model family: the frozen holdout, the folds, the metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.metrics import mean_absolute_error, mean_poisson_deviance, mean_squared_error
from sklearn.model_selection import RepeatedKFold

from features.contract.errors import FleetcastError
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.hashing import id_bucket
from features.contract.registry import METRICS
from features.contract.schema import ENTITY

# Poisson deviance is undefined for a zero prediction; trees can predict exactly 0.
MIN_PREDICTION = 1e-6


def holdout_bucket(vehicle_id: pl.Expr) -> pl.Expr:
    """The vehicle's bucket in [0, 100); buckets below `holdout_percent` are the holdout."""
    return id_bucket(vehicle_id, 100)


def is_holdout(percent: int) -> pl.Expr:
    """True for the vehicles frozen for promotion decisions: never used to train a model."""
    return holdout_bucket(pl.col(ENTITY)) < percent


class NotEnoughDataError(FleetcastError, ValueError):
    """The snapshot has too few labeled rows for the protocol."""


@dataclass(frozen=True)
class Split:
    """The labeled rows of a snapshot, divided into training and frozen holdout parts.

    `train` is what training uses; `train_available` counts the labeled training rows before
    any sampling (equal to `train.height` unless `sampled` cut it down).
    """

    train: pl.DataFrame
    holdout: pl.DataFrame
    train_available: int = -1

    def __post_init__(self) -> None:
        if self.train_available < 0:
            object.__setattr__(self, "train_available", self.train.height)

    @property
    def is_sampled(self) -> bool:
        return self.train.height < self.train_available


def split_labeled(snapshot: pl.DataFrame, holdout_percent: int) -> Split:
    """Labeled rows only (new listings have no label), divided by the stable id hash."""
    labeled = snapshot.filter(pl.col(TARGET).is_not_null()).sort(ENTITY)
    holdout = is_holdout(holdout_percent)
    return Split(train=labeled.filter(~holdout), holdout=labeled.filter(holdout))


def sampled(split: Split, max_rows: int, seed: int) -> Split:
    """At most `max_rows` training rows: above it, a seeded uniform sample, kept in id order.
    The holdout is never sampled: promotion judges on all of it."""
    if split.train.height <= max_rows:
        return split
    rows = np.sort(np.random.default_rng(seed).choice(split.train.height, max_rows, replace=False))
    return Split(split.train[rows], split.holdout, train_available=split.train.height)


def feature_frame(frame: pl.DataFrame) -> pd.DataFrame:
    """Features in contract order as float64; models keep these names (`feature_names_in_`)."""
    return frame.select(pl.col(FEATURE_NAMES).cast(pl.Float64)).to_pandas()


def target(frame: pl.DataFrame) -> np.ndarray:
    """The label of a labeled table, as float64."""
    return frame[TARGET].cast(pl.Float64).to_numpy()


def fold_indices(
    n_rows: int, folds: int, repeats: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Shuffled, repeated K-fold (train, test) index pairs; the same for every family."""
    splitter = RepeatedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(splitter.split(np.zeros(n_rows)))


def score(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE and mean Poisson deviance (predictions floored just above 0 for the latter)."""
    values = {
        "mae": mean_absolute_error(y_true, y_pred),
        "rmse": float(np.sqrt(mean_squared_error(y_true, y_pred))),
        "poisson_deviance": mean_poisson_deviance(y_true, np.maximum(y_pred, MIN_PREDICTION)),
    }
    return {name: float(values[name]) for name in METRICS}


@dataclass(frozen=True)
class FamilyScore:
    """A family's scores on every fold, its out-of-fold predictions of the first repeat, and
    the configuration its search chose on all training rows (what the refit uses)."""

    family: str
    folds: list[dict[str, float]]
    out_of_fold: np.ndarray
    fit_seconds: float
    config: dict[str, Any] = field(default_factory=dict)
    fold_picks: list[str] = field(default_factory=list)  # each outer fold's inner choice

    def mean(self, metric: str) -> float:
        return float(np.mean([fold[metric] for fold in self.folds]))

    def std(self, metric: str) -> float:
        return float(np.std([fold[metric] for fold in self.folds]))
