"""The family comparison: which family wins, and which differences are real.

Every family is scored on the same outer folds, so each fold gives a paired difference to the
best. Folds of repeated K-fold share training rows, so their differences are correlated and a
plain t-interval is too narrow; the corrected resampled t-test (Nadeau & Bengio, 2003) widens
the variance by the test/train size ratio to account for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from features.contract.intervals import calibrate, mean_width
from flows.evaluation import FamilyScore
from flows.train.families import YARDSTICKS

CONFIDENCE = 0.95  # of the paired-difference intervals in the comparison


@dataclass(frozen=True)
class Difference:
    """Mean paired difference of a metric to the best family over the folds, with its interval."""

    mean: float
    low: float
    high: float

    @property
    def real(self) -> bool:
        """The interval excludes zero: the family is worse than the best beyond fold noise."""
        return self.low > 0


def best_family(scores: list[FamilyScore], metric: str) -> FamilyScore:
    """The family with the lowest mean `metric`; the yardsticks (median, reference) excluded."""
    contenders = [s for s in scores if s.family not in YARDSTICKS]
    return min(contenders, key=lambda s: s.mean(metric))


def paired_difference(
    score: FamilyScore, best: FamilyScore, metric: str, test_share: float
) -> Difference:
    """`score` minus `best` on each shared fold: mean and corrected-t interval."""
    diffs = np.array([f[metric] - b[metric] for f, b in zip(score.folds, best.folds, strict=True)])
    mean, folds = float(diffs.mean()), len(diffs)
    if folds < 2 or not np.any(diffs != diffs[0]):
        return Difference(mean, mean, mean)
    corrected = (1 / folds + test_share / (1 - test_share)) * float(diffs.var(ddof=1))
    half = float(stats.t.ppf((1 + CONFIDENCE) / 2, folds - 1)) * math.sqrt(corrected)
    return Difference(mean, mean - half, mean + half)


def interval_width(score: FamilyScore, labels: np.ndarray, level: float) -> float:
    """Mean width of the family's conformal range, calibrated on its own out-of-fold rows."""
    seen = ~np.isnan(score.out_of_fold)
    predicted = score.out_of_fold[seen]
    low, high = calibrate(labels[seen], predicted, level).bounds(predicted)
    return mean_width(low, high)


def comparison_table(
    scores: list[FamilyScore],
    metric: str,
    best: FamilyScore,
    labels: np.ndarray,
    level: float,
    test_share: float,
) -> pd.DataFrame:
    """One row per family, best first: each metric's mean, the paired difference to the best
    with its interval, the range's width, the chosen configuration, fit time, the role."""
    rows = []
    for s in sorted(scores, key=lambda s: s.mean(metric)):
        diff = paired_difference(s, best, metric, test_share)
        rows.append(
            {
                "family": s.family,
                **{f"cv_{name}": s.mean(name) for name in s.folds[0]},
                f"cv_{metric}_std": s.std(metric),
                f"diff_{metric}": diff.mean,
                "diff_low": diff.low,
                "diff_high": diff.high,
                "worse_beyond_noise": diff.real,
                f"interval_width_{round(level * 100)}": interval_width(s, labels, level),
                "config": ", ".join(f"{k}={v}" for k, v in s.config.items()),
                "fit_seconds": round(s.fit_seconds, 2),
                "role": _role(s.family, best.family),
            }
        )
    return pd.DataFrame(rows)


def _role(family: str, chosen: str) -> str:
    if family == chosen:
        return "chosen"
    return "yardstick" if family in YARDSTICKS else "contender"
