"""Nested cross-validation: a family's small grid searched inside each training fold only.

The outer folds score the family as it would be chosen on new data: for every outer fold, the
configuration is picked by an inner K-fold on that fold's training rows alone, then fitted on
them and scored on the fold's test rows. The frozen holdout never reaches this module (the
flow passes only the training part), and no outer test row reaches the inner search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold

from flows.evaluation import FamilyScore, score
from flows.train.families import Config, Family

INNER_FOLDS = 3  # enough to rank 2-4 configurations; each one costs INNER_FOLDS fits


@dataclass(frozen=True)
class Pick:
    """The configuration an inner search chose, and each configuration's inner MAE."""

    config: Config
    inner_mae: dict[str, float]


def _label(config: Config) -> str:
    return ", ".join(f"{key}={value}" for key, value in config.items())


def pick(
    family: Family, features: pd.DataFrame, labels: np.ndarray, seed: int, threads: int = 1
) -> Pick:
    """The configuration with the lowest inner-CV MAE on these rows (the first on a tie)."""
    if len(family.grid) == 1:
        return Pick(family.grid[0], {})
    inner = list(KFold(INNER_FOLDS, shuffle=True, random_state=seed).split(features))
    maes: dict[str, float] = {}
    for config in family.grid:
        errors = []
        for fit_rows, test_rows in inner:
            model = family.build(config, seed, threads)
            model.fit(features.iloc[fit_rows], labels[fit_rows])
            predicted = model.predict(features.iloc[test_rows])
            errors.append(float(np.mean(np.abs(predicted - labels[test_rows]))))
        maes[_label(config)] = float(np.mean(errors))
    best = min(family.grid, key=lambda config: maes[_label(config)])
    return Pick(best, maes)


def nested_cross_validate(
    name: str,
    family: Family,
    features: pd.DataFrame,
    labels: np.ndarray,
    folds: list[tuple[np.ndarray, np.ndarray]],
    seed: int,
    threads: int = 1,
) -> FamilyScore:
    """Score `family` on the outer folds, each with its own inner search; then pick its
    configuration once more on all the rows given (what a refit would use). Each fit uses
    `threads` threads."""
    scores, out_of_fold, seconds = [], np.full(len(labels), np.nan), 0.0
    picked: list[str] = []
    for train_rows, test_rows in folds:
        started = time.perf_counter()
        x, y = features.iloc[train_rows], labels[train_rows]
        chosen = pick(family, x, y, seed, threads).config
        fitted = family.build(chosen, seed, threads).fit(x, y)
        seconds += time.perf_counter() - started
        predicted = fitted.predict(features.iloc[test_rows])
        scores.append(score(labels[test_rows], predicted))
        picked.append(_label(chosen))
        if np.isnan(out_of_fold[test_rows]).all():  # first repeat only
            out_of_fold[test_rows] = predicted
    started = time.perf_counter()
    final = pick(family, features, labels, seed, threads)
    seconds += time.perf_counter() - started
    return FamilyScore(
        family=name,
        folds=scores,
        out_of_fold=out_of_fold,
        fit_seconds=seconds,
        config=final.config,
        fold_picks=picked,
    )
