"""Nested search and the comparison: the search sees only its fold's training rows, the
reference model is scored on the same folds, and paired intervals separate noise from real."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyRegressor

from features.contract.formulas import FEATURE_NAMES
from features.settings import Settings
from flows.evaluation import FamilyScore, fold_indices
from flows.train import families
from flows.train.compare import best_family, comparison_table, paired_difference
from flows.train.families import FEATURE_SET, Family
from flows.train.flow import PARALLEL_FIT_ROWS, fit_threads
from flows.train.search import nested_cross_validate


class Recording(DummyRegressor):
    """A mean model that records the index of every row it is fitted on."""

    seen: list[set[int]]

    def fit(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> Recording:
        self.seen.append(set(X.index))
        return super().fit(X, y)


def _data(rows: int = 120) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    # Index = the vehicle id, so a fitted row is named by the vehicle it came from.
    ids = rng.permutation(10_000)[:rows] + 1
    values = rng.uniform(0, 3, (rows, len(FEATURE_NAMES)))
    return pd.DataFrame(values, columns=FEATURE_NAMES, index=ids), rng.poisson(4, rows) * 1.0


def test_the_inner_search_fits_only_rows_of_its_outer_training_fold() -> None:
    features, labels = _data()
    seen: list[set[int]] = []
    Recording.seen = seen
    grid = [{FEATURE_SET: "all", "n": 1}, {FEATURE_SET: "all", "n": 2}]
    family = Family(lambda config, seed: Recording(), grid)
    folds = fold_indices(len(labels), 4, 1, seed=1)
    nested_cross_validate("recording", family, features, labels, folds, seed=1)
    fits_per_outer = len(grid) * 3 + 1  # 3 inner fits per configuration, then the outer refit
    for number, (train_rows, test_rows) in enumerate(folds):
        allowed = set(features.index[train_rows])
        fits = seen[number * fits_per_outer : (number + 1) * fits_per_outer]
        assert fits and all(fit <= allowed for fit in fits)
        assert all(not fit & set(features.index[test_rows]) for fit in fits)
    # Then one search on every given row, none beyond them (the holdout is never given).
    assert all(fit <= set(features.index) for fit in seen[len(folds) * fits_per_outer :])


def _score(family: str, maes: list[float]) -> FamilyScore:
    folds = [{"mae": m, "rmse": m, "poisson_deviance": m} for m in maes]
    return FamilyScore(family, folds, np.linspace(1, 9, 20), 0.1, {FEATURE_SET: "all"})


def test_a_consistent_gap_is_real_and_fold_noise_is_not() -> None:
    best = _score("extra_trees", [3.0, 3.2, 2.9, 3.1, 3.0, 3.3])
    worse = _score("poisson_glm", [3.3, 3.5, 3.2, 3.4, 3.3, 3.6])  # +0.3 on every fold
    noisy = _score("random_forest", [3.2, 3.0, 3.0, 3.2, 2.9, 3.4])
    assert paired_difference(worse, best, "mae", 0.2).real
    assert paired_difference(worse, best, "mae", 0.2).mean == pytest.approx(0.3)
    noise = paired_difference(noisy, best, "mae", 0.2)
    assert noise.low < 0 < noise.high and not noise.real
    assert paired_difference(best, best, "mae", 0.2).mean == 0


def test_the_yardsticks_are_compared_but_never_chosen() -> None:
    scores = [
        _score(families.REFERENCE, [2.0] * 4),  # even if a yardstick scored best
        _score(families.BASELINE, [4.0] * 4),
        _score("extra_trees", [3.0, 3.1, 3.0, 3.1]),
    ]
    best = best_family(scores, "mae")
    assert best.family == "extra_trees"
    table = comparison_table(scores, "mae", best, np.arange(20.0), 0.8, 0.2)
    roles = dict(zip(table["family"], table["role"], strict=True))
    assert roles == {"reference": "yardstick", "median": "yardstick", "extra_trees": "chosen"}


def test_the_reference_is_the_seeds_model_on_its_five_features() -> None:
    model = families.build(families.REFERENCE, seed=0)
    forest = model.named_steps["model"]
    assert (forest.n_estimators, forest.max_depth) == (200, 10)
    assert families.FAMILIES[families.REFERENCE].grid == [{FEATURE_SET: "seed"}]


def test_a_median_aiming_family_exists_and_every_grid_is_small() -> None:
    assert any(f.aim == "median" for n, f in families.FAMILIES.items() if n != families.BASELINE)
    assert all(1 <= len(f.grid) <= 4 for f in families.FAMILIES.values())


def test_a_fit_takes_the_threads_it_is_given_and_the_model_then_serves_on_one() -> None:
    features, labels = _data()
    forest = families.build("random_forest", seed=0, threads=2)
    assert forest.get_params()["n_jobs"] == 2
    served = families.single_threaded(forest.fit(features, labels))
    assert served.get_params()["n_jobs"] == 1
    reference = families.build(families.REFERENCE, seed=0, threads=2).fit(features, labels)
    assert families.single_threaded(reference).named_steps["model"].n_jobs == 1
    # Threads change the speed, never the model.
    alone = families.build("random_forest", seed=0).fit(features, labels)
    assert np.array_equal(alone.predict(features), served.predict(features))


def test_fits_get_threads_only_when_big_enough_and_never_on_dask() -> None:
    cores = len(os.sched_getaffinity(0))
    local = Settings(train_workers=1)
    assert fit_threads(local, PARALLEL_FIT_ROWS - 1) == 1
    assert fit_threads(local, PARALLEL_FIT_ROWS) == cores
    assert fit_threads(Settings(train_workers=cores), 10**6) == 1  # the fan-out has the cores
    assert fit_threads(Settings(dask_address="tcp://127.0.0.1:8786"), 10**6) == 1
