"""The statistics under the gate: per-row losses that add up to the metrics, a paired
bootstrap that is reproducible, and interval coverage on the holdout."""

from __future__ import annotations

import numpy as np
import pytest

from features.contract.intervals import Calibration
from features.contract.registry import METRICS
from flows.evaluation import score
from flows.promote import evidence


@pytest.fixture(scope="module")
def holdout() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    mean = np.exp(rng.normal(1.5, 0.7, 300))
    labels = rng.poisson(mean).astype(np.float64)
    return labels, mean, mean * rng.lognormal(0, 0.3, 300)


@pytest.mark.parametrize("metric", METRICS)
def test_row_losses_average_to_the_metric_the_holdout_is_scored_by(
    holdout: tuple, metric: str
) -> None:
    labels, _, predicted = holdout
    predicted = np.concatenate([predicted, [0.0]])  # the floor of Poisson deviance, too
    labels = np.concatenate([labels, [2.0]])
    losses = evidence.row_losses(metric, labels, predicted)
    assert evidence.from_mean(metric, losses.mean()) == pytest.approx(
        score(labels, predicted)[metric], rel=1e-12
    )


def test_an_unknown_metric_has_no_row_loss() -> None:
    with pytest.raises(ValueError, match="'mape' has no per-row loss"):
        evidence.row_losses("mape", np.ones(2), np.ones(2))


def test_relative_gain_is_relative_to_the_champion() -> None:
    gains = evidence.relative_gain(np.array([1.5, 2.5, 0.0, 1.0]), np.array([2.0, 2.0, 0.0, 0.0]))
    assert gains.tolist() == pytest.approx([0.25, -0.25, 0.0, -np.inf])


def test_the_bootstrap_is_seeded_and_independent_of_its_chunking(
    holdout: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    labels, ours, theirs = holdout

    def run(seed: int) -> evidence.Improvement:
        return evidence.improvement(
            "mae", labels, ours, theirs, confidence=0.95, draws=500, seed=seed
        )

    whole = run(42)
    assert run(42) == whole and run(43) != whole
    monkeypatch.setattr(evidence, "_CHUNK_CELLS", 7 * len(labels))  # 7 draws at a time
    assert run(42) == whole


def test_the_bootstrap_pairs_the_rows(holdout: tuple) -> None:
    # Hard vehicles are hard for both: the spread between the models, not across the
    # vehicles, sets the interval, so a small, consistent gain is still certain.
    labels, mean, _ = holdout
    champion = mean + 1.0
    candidate = mean + 0.98
    gain = evidence.improvement(
        "mae", labels, candidate, champion, confidence=0.95, draws=2000, seed=1
    )
    point = 1 - np.abs(labels - candidate).mean() / np.abs(labels - champion).mean()
    assert gain.point == pytest.approx(point) and gain.point > 0
    assert gain.low <= gain.point <= gain.high
    assert gain.high - gain.low < gain.point  # unpaired, the interval would span zero


def test_the_bootstrap_refuses_unpaired_rows() -> None:
    with pytest.raises(ValueError, match="paired bootstrap: 3 and 2 rows"):
        evidence.paired_bootstrap("mae", np.ones(3), np.ones(2), 10, 0)


def test_describe_names_the_two_sided_level_of_the_one_sided_bounds() -> None:
    gain = evidence.Improvement(point=0.017, low=-0.004, high=0.039, confidence=0.95)
    assert gain.describe() == "1.7% better (bootstrap 90% interval [-0.4%, 3.9%])"
    assert not gain.clears(0.0) and gain.clears(-0.01)
    assert evidence.level_text(0.975) == "97.5%" and evidence.level_text(0.8) == "80%"


def test_holdout_interval_applies_the_calibration(holdout: tuple) -> None:
    labels, mean, _ = holdout
    calibration = Calibration(level=0.8, lower=-1.0, upper=1.0, rows=100)
    interval = evidence.holdout_interval(calibration, labels, mean)
    low, high = calibration.bounds(mean)
    assert interval.level == 0.8
    assert interval.coverage == pytest.approx(np.mean((low <= labels) & (labels <= high)))
    assert interval.width == pytest.approx(np.mean(high - low))
