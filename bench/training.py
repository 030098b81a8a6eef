"""What the training protocol buys, on the latest snapshot: nested search, yardsticks, range.

`python -m bench.training` (after `fleetcast pipeline`, which builds the snapshot) scores every
family on the train flow's folds twice, single-threaded and in one process (no Prefect):
flat (its first configuration, no search) and nested (the train flow's protocol). It prints a
table: nested and flat CV MAE, the gap to the seed's reference model and to the median
baseline, and the cost of the search as a ratio to the flat run in the same process. Then it
refits the winner as training does and scores it on the frozen holdout: MAE, and the coverage
and mean width of its conformal range.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from features.contract.intervals import calibrate, coverage, mean_width
from features.settings import get_settings
from features.stores.offline import SnapshotNotFoundError, scan_snapshot
from flows.evaluation import (
    FamilyScore,
    Split,
    feature_frame,
    fold_indices,
    score,
    split_labeled,
    target,
)
from flows.train import families
from flows.train.compare import best_family
from flows.train.families import Family
from flows.train.search import nested_cross_validate

Folds = list[tuple[np.ndarray, np.ndarray]]


def _timed(
    name: str, family: Family, x: pd.DataFrame, y: np.ndarray, folds: Folds, seed: int
) -> tuple[FamilyScore, float]:
    started = time.perf_counter()
    result = nested_cross_validate(name, family, x, y, folds, seed)
    return result, time.perf_counter() - started


def _flat(family: Family) -> Family:
    return Family(family.estimator, family.grid[:1], family.aim)


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.training", description=__doc__.splitlines()[0]
    )
    parser.parse_args()
    settings = get_settings()
    try:
        snapshot = scan_snapshot(settings).collect()
    except SnapshotNotFoundError as error:
        parser.error(f"{error}: run `.venv/bin/fleetcast pipeline` first")
    split = split_labeled(snapshot, settings.holdout_percent)
    x, y = feature_frame(split.train), target(split.train)
    folds = fold_indices(len(y), settings.cv_folds, settings.cv_repeats, settings.seed)
    nested, rows = [], []
    with threadpool_limits(limits=1):
        for name, family in families.FAMILIES.items():
            deep, deep_s = _timed(name, family, x, y, folds, settings.seed)
            flat, flat_s = _timed(name, _flat(family), x, y, folds, settings.seed)
            nested.append(deep)
            rows.append((name, deep.mean("mae"), flat.mean("mae"), deep_s, deep_s / flat_s))
    reference = next(s for s in nested if s.family == families.REFERENCE).mean("mae")
    median = next(s for s in nested if s.family == families.BASELINE).mean("mae")
    print("| family | nested CV MAE | flat CV MAE | vs reference | vs median | search s | x flat |")
    print("|---|---|---|---|---|---|---|")
    for name, deep_mae, flat_mae, seconds, ratio in sorted(rows, key=lambda r: r[1]):
        gains = f"{(reference - deep_mae) / reference:+.1%} | {(median - deep_mae) / median:+.1%}"
        print(
            f"| {name} | {deep_mae:.3f} | {flat_mae:.3f} | {gains} | {seconds:.1f} | {ratio:.1f} |"
        )
    best = best_family(nested, settings.selection_metric)
    _holdout(best, split, x, y, settings.interval_level, settings.seed)


def _holdout(
    best: FamilyScore, split: Split, x: pd.DataFrame, y: np.ndarray, level: float, seed: int
) -> None:
    model = families.build(best.family, seed, best.config).fit(x, y)
    predicted = model.predict(feature_frame(split.holdout))
    truth = target(split.holdout)
    low, high = calibrate(y, best.out_of_fold, level).bounds(predicted)
    print(
        f"\nchosen: {best.family} ({best.config}); holdout ({len(truth)} vehicles): "
        f"MAE {score(truth, predicted)['mae']:.3f}, {level:.0%} range coverage "
        f"{coverage(truth, low, high):.3f}, mean width {mean_width(low, high):.2f}"
    )


if __name__ == "__main__":
    main()
