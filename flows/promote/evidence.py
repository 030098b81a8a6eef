"""The statistics of a promotion: how sure we are that a candidate is better, and whether its
intervals keep their promise on the holdout. Pure NumPy, so the gate stays a pure function.

A paired bootstrap over holdout vehicles: each draw resamples the same vehicles for both
models and recomputes the metric, so what the two models share (hard vehicles, easy ones)
cancels and only their difference is left to vary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import xlogy

from features.contract.intervals import Calibration, coverage, mean_width
from flows.evaluation import MIN_PREDICTION

# Most resampled cells (draws x vehicles) held at once: ~32 MB of indices per chunk.
_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True)
class Improvement:
    """The candidate's relative improvement over the champion (0.05 = 5% lower error): the
    point estimate and the one-sided bootstrap bounds at `confidence` on either side."""

    point: float
    low: float
    high: float
    confidence: float

    def clears(self, min_effect: float) -> bool:
        """True when the lower bound is above `min_effect`: better, beyond the noise."""
        return self.low > min_effect

    def describe(self) -> str:
        """E.g. `1.7% better (bootstrap 90% interval [-0.4%, 3.9%])`."""
        direction = "better" if self.point >= 0 else "worse"
        two_sided = level_text(2 * self.confidence - 1)
        return (
            f"{abs(self.point):.1%} {direction} (bootstrap {two_sided} interval "
            f"[{self.low:.1%}, {self.high:.1%}])"
        )


@dataclass(frozen=True)
class HoldoutInterval:
    """A version's prediction intervals on the holdout: the level it was calibrated to, the
    share of outcomes inside and the mean width (reservations)."""

    level: float
    coverage: float
    width: float

    def misses(self, tolerance: float) -> bool:
        """True when the coverage falls short of the level by more than `tolerance`. Only
        short: the calibration promises at least its level, and whole-number bounds on counts
        often cover more (a constant forecast's 80% range covers ~90%); the width shows that."""
        # The slack keeps a coverage exactly `tolerance` short (150 of 200 at 80% - 5) inside.
        return not self.coverage >= self.level - tolerance - 1e-9


def level_text(level: float) -> str:
    """A confidence or coverage level as people write it: 0.95 -> `95%`, 0.975 -> `97.5%`."""
    return f"{round(level * 100, 4):g}%"


def holdout_interval(
    calibration: Calibration, labels: np.ndarray, predicted: np.ndarray
) -> HoldoutInterval:
    """The calibration applied to holdout predictions, measured against the outcomes."""
    low, high = calibration.bounds(predicted)
    return HoldoutInterval(calibration.level, coverage(labels, low, high), mean_width(low, high))


def row_losses(metric: str, labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Each row's share of `metric`: its mean over rows (then `from_mean`) is the metric, as
    `flows.evaluation.score` computes it."""
    y, p = np.asarray(labels, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    if metric == "mae":
        return np.abs(y - p)
    if metric == "rmse":
        return (y - p) ** 2
    if metric == "poisson_deviance":
        floored = np.maximum(p, MIN_PREDICTION)
        return 2 * (xlogy(y, y / floored) - y + floored)
    raise ValueError(f"metric: {metric!r} has no per-row loss")


def from_mean(metric: str, mean_loss: np.ndarray) -> np.ndarray:
    """The metric from the mean of its row losses (RMSE is the root of the mean square)."""
    return np.sqrt(mean_loss) if metric == "rmse" else mean_loss


def relative_gain(candidate: np.ndarray, champion: np.ndarray) -> np.ndarray:
    """(champion - candidate) / champion, elementwise; against a perfect champion, 0 for a
    perfect candidate and -inf for any other."""
    safe = np.where(champion == 0, 1.0, champion)
    gain = (champion - candidate) / safe
    return np.where(champion == 0, np.where(candidate == 0, 0.0, -math.inf), gain)


def paired_bootstrap(
    metric: str,
    candidate_losses: np.ndarray,
    champion_losses: np.ndarray,
    draws: int,
    seed: int,
) -> np.ndarray:
    """The relative improvement recomputed on `draws` resamples (with replacement) of the
    holdout vehicles, the same rows for both models in each draw."""
    rows = len(candidate_losses)
    if rows == 0 or rows != len(champion_losses):
        raise ValueError(f"paired bootstrap: {rows} and {len(champion_losses)} rows")
    rng = np.random.default_rng(seed)
    gains = np.empty(draws)
    chunk = max(1, _CHUNK_CELLS // rows)
    for start in range(0, draws, chunk):
        picked = rng.integers(0, rows, size=(min(chunk, draws - start), rows))
        candidate = from_mean(metric, candidate_losses[picked].mean(axis=1))
        champion = from_mean(metric, champion_losses[picked].mean(axis=1))
        gains[start : start + len(picked)] = relative_gain(candidate, champion)
    return gains


def improvement(
    metric: str,
    labels: np.ndarray,
    candidate: np.ndarray,
    champion: np.ndarray,
    *,
    confidence: float,
    draws: int,
    seed: int,
) -> Improvement:
    """The candidate's improvement over the champion on the same holdout rows, with the
    one-sided bootstrap bounds at `confidence`."""
    ours, theirs = row_losses(metric, labels, candidate), row_losses(metric, labels, champion)
    point = relative_gain(from_mean(metric, ours.mean()), from_mean(metric, theirs.mean()))
    gains = paired_bootstrap(metric, ours, theirs, draws, seed)
    # Quantiles that are draws themselves: no interpolation towards an infinite gain.
    low, high = np.quantile(gains, [1 - confidence, confidence], method="inverted_cdf")
    return Improvement(float(point), float(low), float(high), confidence)
