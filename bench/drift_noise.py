"""How often same-distribution windows look drifted: the noise the drift threshold must clear.

`python -m bench.drift_noise [--draws 200]` draws fresh listings from the generator (new seeds,
the shipped data's distributions), windows of 200 and 1,000 rows, and scores each feature
against the shipped 1,000-vehicle reference with the drift flow's method: the normed Wasserstein
distance (Evidently's: the distance over the reference's standard deviation). It prints, per
threshold, the share of draws in which at least `FLEETCAST_DRIFT_SHARE_THRESHOLD` of the
features would count as drifted, and the drift scenario's scores on the same reference.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import wasserstein_distance

from features.contract.formulas import FEATURE_NAMES, with_features
from features.settings import PROJECT_ROOT, get_settings
from flows.synthetic.generator import ShiftedMonth, generate

THRESHOLDS = (0.1, 0.2)
WINDOWS = (200, 1000)


def _features(path: Path) -> pl.DataFrame:
    return with_features(pl.scan_csv(path)).collect()


def _scores(reference: pl.DataFrame, current: pl.DataFrame) -> np.ndarray:
    """Normed Wasserstein distance of each feature (Evidently's floor on a tiny deviation)."""
    return np.array(
        [
            wasserstein_distance(reference[f], current[f]) / max(float(reference[f].std()), 1e-3)
            for f in FEATURE_NAMES
        ]
    )


def _pool(folder: Path, seed: int, shifted: ShiftedMonth | None = None) -> pl.DataFrame:
    generate(folder, n_vehicles=20_000, seed=seed, first_id=1001, shifted=shifted)
    return _features(folder / "vehicles.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=200, help="windows per size")
    draws = parser.parse_args().draws
    if draws < 1:
        parser.error(f"--draws must be at least 1, got {draws}")
    share = get_settings().drift_share_threshold
    reference = _features(PROJECT_ROOT / "data" / "vehicles.csv")
    with tempfile.TemporaryDirectory() as tmp:
        pool = _pool(Path(tmp) / "same", seed=1234)
        shifted = _pool(Path(tmp) / "shifted", seed=42, shifted=ShiftedMonth(1))
    rng = np.random.default_rng(0)
    for rows in WINDOWS:
        drifted = np.array(
            [
                _scores(reference, pool[rng.choice(pool.height, rows, replace=False)])
                for _ in range(draws)
            ]
        )
        for threshold in THRESHOLDS:
            flagged = ((drifted >= threshold).mean(axis=1) >= share).mean()
            print(f"{rows:>5} rows, threshold {threshold}: drift in {flagged:.0%} of draws")
    moved = dict(zip(FEATURE_NAMES, _scores(reference, shifted), strict=True))
    print("drift scenario:", ", ".join(f"{f} {s:.2f}" for f, s in moved.items()))


if __name__ == "__main__":
    main()
