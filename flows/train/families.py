"""The competing model families, each a fresh scikit-learn estimator built from a seed.

Every family runs single-threaded: parallelism comes from the flow's task runner, which trains
several families (and folds) at once.
"""

from __future__ import annotations

from collections.abc import Callable

from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from features.contract.errors import FleetcastError

BASELINE = "median"


class UnknownFamilyError(FleetcastError, ValueError):
    """A family name that is not in FAMILIES."""


def _random_forest(seed: int) -> RegressorMixin:
    return RandomForestRegressor(
        n_estimators=100, min_samples_leaf=5, max_features=0.5, random_state=seed, n_jobs=1
    )


def _extra_trees(seed: int) -> RegressorMixin:
    return ExtraTreesRegressor(
        n_estimators=100, min_samples_leaf=5, max_features=0.7, random_state=seed, n_jobs=1
    )


def _hist_gradient_boosting(seed: int) -> RegressorMixin:
    # Poisson loss: the target is a count, and the model predicts its (positive) mean.
    return HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=0.1,
        max_iter=100,
        min_samples_leaf=20,
        early_stopping=False,
        random_state=seed,
    )


def _poisson_glm(seed: int) -> RegressorMixin:
    del seed  # deterministic
    return make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-4, max_iter=1000))


def _median(seed: int) -> RegressorMixin:
    del seed
    return DummyRegressor(strategy="median")


# Slowest first, so a pool of workers finishes them together.
FAMILIES: dict[str, Callable[[int], RegressorMixin]] = {
    "hist_gradient_boosting": _hist_gradient_boosting,
    "random_forest": _random_forest,
    "extra_trees": _extra_trees,
    "poisson_glm": _poisson_glm,
    BASELINE: _median,
}


def build(family: str, seed: int) -> RegressorMixin:
    """A fresh, unfitted estimator of `family`."""
    if family not in FAMILIES:
        raise UnknownFamilyError(f"family: unknown {family!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[family](seed)


def hyperparameters(model: RegressorMixin) -> dict[str, str | int | float | bool | None]:
    """The estimator's scalar parameters (a pipeline's steps included), for logging."""
    scalars = (str, int, float, bool, type(None))
    return {k: v for k, v in model.get_params(deep=True).items() if isinstance(v, scalars)}
