"""Prediction intervals: a calibrated range around every forecast, one formula for all sides.

Split-conformal with a count-shaped scale. Training measures the residuals of out-of-fold
predictions, scaled by `spread(ŷ) = sqrt(ŷ + 1)` (reservations are over-dispersed counts: the
spread grows with the forecast), and keeps two quantiles of them, one per side. A forecast ŷ
then gets `[ŷ + lower·spread(ŷ), ŷ + upper·spread(ŷ)]`, with the finite-sample correction that
makes the coverage at least the level on exchangeable data, distribution-free.

Bounds are whole, non-negative reservations: for an integer outcome y, `lo ≤ y ≤ hi` holds
exactly when `ceil(lo) ≤ y ≤ floor(hi)`, so rounding inward keeps the coverage and narrows the
range. The calibration is three numbers carried by the model version's tags (and a JSON
artifact); the train, promote and drift flows and the service all apply it with `bounds`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

import numpy as np

from features.contract.errors import FleetcastError
from features.contract.registry import Tag

# Rounding slack: a bound computed as 4.9999999 is the whole number 5.
_EPSILON = 1e-9
CALIBRATION_ARTIFACT = "calibration.json"
METHOD = "split-conformal, residuals scaled by sqrt(prediction + 1), out-of-fold"


class CalibrationError(FleetcastError, ValueError):
    """A model version's interval calibration is missing or malformed."""


@dataclass(frozen=True)
class Calibration:
    """The quantiles of scaled residuals that give a range at `level` (e.g. 0.8 = 80%)."""

    level: float
    lower: float  # quantile of (y - ŷ) / spread(ŷ) at (1 - level) / 2; usually negative
    upper: float  # at 1 - (1 - level) / 2
    rows: int  # how many out-of-fold residuals it was measured on

    def bounds(self, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Whole, non-negative lower and upper bounds (int64) for point forecasts."""
        forecast = np.asarray(predicted, dtype=np.float64)
        scale = spread(forecast)
        low = np.maximum(np.ceil(forecast + self.lower * scale - _EPSILON), 0)
        high = np.maximum(np.floor(forecast + self.upper * scale + _EPSILON), low)
        return low.astype(np.int64), high.astype(np.int64)

    def tags(self) -> dict[str, str]:
        """The calibration as model-version tags (how it travels with the version)."""
        return {
            Tag.INTERVAL_LEVEL: repr(self.level),
            Tag.INTERVAL_LOWER: repr(self.lower),
            Tag.INTERVAL_UPPER: repr(self.upper),
            Tag.INTERVAL_ROWS: str(self.rows),
        }

    def document(self) -> str:
        """The calibration artifact logged beside the model (the same numbers, and the method)."""
        return json.dumps({**asdict(self), "method": METHOD}, indent=1)


def spread(predicted: np.ndarray) -> np.ndarray:
    """The residual scale at a forecast: Poisson-like, never below 1."""
    return np.sqrt(np.maximum(predicted, 0.0) + 1.0)


def calibrate(labels: np.ndarray, predicted: np.ndarray, level: float) -> Calibration:
    """Conformal quantiles of out-of-fold residuals: each side misses at most (1 - level) / 2."""
    if not 0 < level < 1:
        raise CalibrationError(f"interval level: {level} is not between 0 and 1")
    scores = np.sort((np.asarray(labels) - predicted) / spread(np.asarray(predicted)))
    n, tail = len(scores), (1 - level) / 2
    if n == 0:
        raise CalibrationError("interval calibration: no out-of-fold residuals")
    # The k-th smallest of n scores bounds a new one with probability k / (n + 1).
    low_rank = math.floor((n + 1) * tail)
    high_rank = math.ceil((n + 1) * (1 - tail))
    lower = float(scores[low_rank - 1]) if low_rank >= 1 else -math.inf
    upper = float(scores[high_rank - 1]) if high_rank <= n else math.inf
    return Calibration(level=level, lower=lower, upper=upper, rows=n)


def from_tags(tags: dict[str, str], version: str) -> Calibration:
    """A version's calibration, read back from its tags; a clear error when absent or broken."""
    keys = (Tag.INTERVAL_LEVEL, Tag.INTERVAL_LOWER, Tag.INTERVAL_UPPER, Tag.INTERVAL_ROWS)
    missing = [key for key in keys if not tags.get(key)]
    if missing:
        raise CalibrationError(f"v{version} has no interval calibration: missing {missing}")
    try:
        calibration = Calibration(
            level=float(tags[Tag.INTERVAL_LEVEL]),
            lower=float(tags[Tag.INTERVAL_LOWER]),
            upper=float(tags[Tag.INTERVAL_UPPER]),
            rows=int(tags[Tag.INTERVAL_ROWS]),
        )
    except ValueError as error:
        raise CalibrationError(f"v{version}: interval calibration tags: {error}") from error
    if not 0 < calibration.level < 1 or not calibration.lower <= calibration.upper:
        raise CalibrationError(f"v{version}: interval calibration out of range: {calibration}")
    return calibration


def coverage(labels: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of outcomes inside their range."""
    y = np.asarray(labels)
    return float(np.mean((low <= y) & (y <= high))) if len(y) else math.nan


def mean_width(low: np.ndarray, high: np.ndarray) -> float:
    """Mean of `upper - lower`, in reservations."""
    return float(np.mean(high - low)) if len(low) else math.nan
