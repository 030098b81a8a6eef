"""The competing model families: each a seeded scikit-learn estimator and a small search grid.

A family's configuration names its feature set (`FEATURE_SETS`) beside its hyperparameters;
every model still takes the contract's FEATURE_NAMES as input and selects its columns itself,
so the service and the ONNX export see one input whatever the family uses. Every estimator is
single-threaded unless `build` is given threads (forests' `n_jobs`; boosting takes the OpenMP
limit the train flow sets around each fit); a fitted model is served single-threaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from sklearn.base import RegressorMixin
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.linear_model import PoissonRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from features.contract.errors import FleetcastError
from features.contract.formulas import FEATURE_NAMES, FEATURE_SETS
from features.contract.registry import BASELINE, REFERENCE
from features.contract.registry import YARDSTICKS as YARDSTICKS  # never chosen or registered

FEATURE_SET = "features"  # the configuration key that names the feature set
Config = dict[str, Any]


class UnknownFamilyError(FleetcastError, ValueError):
    """A family name that is not in FAMILIES."""


@dataclass(frozen=True)
class Family:
    """How to build an estimator from a configuration and a seed; the configurations to try."""

    estimator: Callable[[Config, int], RegressorMixin]
    grid: list[Config] = field(default_factory=lambda: [{FEATURE_SET: "all"}])
    aim: str = "mean"  # what it estimates: the conditional mean or median (MAE's minimiser)

    def build(self, config: Config, seed: int, threads: int = 1) -> RegressorMixin:
        estimator = self.estimator(config, seed)
        if "n_jobs" in estimator.get_params(deep=False):
            estimator.set_params(n_jobs=threads)
        return using(config[FEATURE_SET], estimator)


def single_threaded(model: RegressorMixin) -> RegressorMixin:
    """The fitted `model`, set to predict on one thread: a request is a few rows, and a
    thread pool per call would cost more than the trees (see bench/service's baseline)."""
    final = model[-1] if isinstance(model, Pipeline) else model
    if "n_jobs" in final.get_params(deep=False):
        final.set_params(n_jobs=1)
    return model


def using(feature_set: str, estimator: RegressorMixin) -> RegressorMixin:
    """`estimator` fed only the columns of `feature_set` out of the contract's inputs."""
    if feature_set == "all":
        return estimator
    columns = [FEATURE_NAMES.index(name) for name in FEATURE_SETS[feature_set]]
    keep = ColumnTransformer([(feature_set, "passthrough", columns)], remainder="drop")
    return Pipeline([("select", keep), ("model", estimator)])


def grid(**axes: list[Any]) -> list[Config]:
    """Every combination of the axes' values, feature sets included."""
    axes = {FEATURE_SET: list(FEATURE_SETS), **axes}
    return [dict(zip(axes, values, strict=True)) for values in product(*axes.values())]


def _boosting(loss: str, **fixed: Any) -> Callable[[Config, int], RegressorMixin]:
    def build(config: Config, seed: int) -> RegressorMixin:
        return HistGradientBoostingRegressor(
            loss=loss,
            learning_rate=0.05,
            max_iter=100,
            max_depth=config["max_depth"],
            min_samples_leaf=20,
            early_stopping=False,
            random_state=seed,
            **fixed,
        )

    return build


def _random_forest(config: Config, seed: int) -> RegressorMixin:
    del config  # only the feature set varies: a leaf of 5 won every search we measured
    return RandomForestRegressor(
        n_estimators=100, min_samples_leaf=5, max_features=0.5, random_state=seed, n_jobs=1
    )


def _extra_trees(config: Config, seed: int) -> RegressorMixin:
    del config
    return ExtraTreesRegressor(
        n_estimators=100, min_samples_leaf=5, max_features=0.7, random_state=seed, n_jobs=1
    )


def _poisson_glm(config: Config, seed: int) -> RegressorMixin:
    del config, seed  # deterministic; only the feature set varies
    return make_pipeline(StandardScaler(), PoissonRegressor(alpha=1e-4, max_iter=1000))


def _reference(config: Config, seed: int) -> RegressorMixin:
    del config
    return RandomForestRegressor(n_estimators=200, max_depth=10, random_state=seed, n_jobs=1)


def _median(config: Config, seed: int) -> RegressorMixin:
    del config, seed
    return DummyRegressor(strategy="median")


# Slowest first, so a pool of workers finishes them together. Grids stay small (2-4
# configurations): the nested search costs 10 outer folds x (3 inner fits per configuration).
FAMILIES: dict[str, Family] = {
    # Quantile loss at 0.5: it estimates the conditional median, which MAE rewards.
    "median_boosting": Family(
        _boosting("quantile", quantile=0.5), grid(max_depth=[2, 3]), aim="median"
    ),
    "random_forest": Family(_random_forest, grid()),
    # Poisson loss: the target is a count, and the model predicts its (positive) mean.
    "hist_gradient_boosting": Family(_boosting("poisson"), grid(max_depth=[2, 3])),
    "extra_trees": Family(_extra_trees, grid()),
    "poisson_glm": Family(_poisson_glm, grid()),
    REFERENCE: Family(_reference, [{FEATURE_SET: "seed"}]),
    BASELINE: Family(_median, [{FEATURE_SET: "all"}], aim="median"),
}


def family(name: str) -> Family:
    """The family called `name`."""
    if name not in FAMILIES:
        raise UnknownFamilyError(f"family: unknown {name!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[name]


def build(name: str, seed: int, config: Config | None = None, threads: int = 1) -> RegressorMixin:
    """A fresh, unfitted estimator of family `name` (default: its first configuration)."""
    chosen = family(name)
    return chosen.build(config or chosen.grid[0], seed, threads)


def hyperparameters(model: RegressorMixin) -> dict[str, str | int | float | bool | None]:
    """The estimator's scalar parameters (a pipeline's steps included), for logging."""
    scalars = (str, int, float, bool, type(None))
    return {k: v for k, v in model.get_params(deep=True).items() if isinstance(v, scalars)}
