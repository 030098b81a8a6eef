"""The drift verdict's error rule: regressed only when enough outcomes pass the MAE ratio; the
ranges' live coverage reported beside the MAE in every form of the result."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.input_ranges import observe
from features.contract.prediction_log import LOWER, UPPER
from features.contract.schema import ENTITY
from features.settings import Settings
from flows.monitor.drift_data import Current
from flows.monitor.drift_report import Numbers
from flows.monitor.drift_result import (
    Champion,
    DriftResult,
    drift_metrics,
    judge,
    markdown,
    summary_lines,
)

HOLDOUT_MAE = 2.0
THRESHOLD, MIN_ROWS = 1.25, 200


def _judged(
    outcome_mae: float, outcome_rows: int, pairs: pl.DataFrame | None = None
) -> DriftResult:
    settings = Settings(drift_mae_ratio_threshold=THRESHOLD, drift_min_rows=MIN_ROWS)
    rows = pl.DataFrame({ENTITY: list(range(1, outcome_rows + 1))})
    champion = Champion(
        version="1",
        run_id=None,
        snapshot_id="s",
        holdout_mae=HOLDOUT_MAE,
        interval_level=0.8,
        holdout_coverage=0.81,
    )
    numbers = Numbers(share_drifted=0.0, columns={}, mae=outcome_mae, html="")
    current = Current(kind="predictions", source="predictions since then", rows=rows)
    outcomes = pairs if pairs is not None else _pairs([None] * outcome_rows)
    return judge(settings, champion, rows, current, ("s", outcomes), numbers)


def _pairs(lower: list[int | None], target: float = 4.0) -> pl.DataFrame:
    """Outcome pairs with a range [lower, lower + 2] each (null: logged without one)."""
    upper = [None if low is None else low + 2 for low in lower]
    return pl.DataFrame(
        {TARGET: [target] * len(lower), LOWER: lower, UPPER: upper},
        schema={TARGET: pl.Float64, LOWER: pl.Int64, UPPER: pl.Int64},
    )


@pytest.mark.parametrize(
    ("ratio", "rows", "regressed"),
    [
        (THRESHOLD, MIN_ROWS, True),
        (1.6, 1000, True),
        (1.2, 1000, False),
        (2.0, MIN_ROWS - 1, False),
    ],
)
def test_the_error_regresses_at_the_threshold_with_enough_outcomes(
    ratio: float, rows: int, regressed: bool
) -> None:
    result = _judged(ratio * HOLDOUT_MAE, rows)
    assert result.mae_ratio == pytest.approx(ratio)
    assert result.error_regressed is regressed
    assert result.detected is regressed  # no feature drifted: the error alone decides
    assert ("ERROR REGRESSED" in result.message) is regressed


def test_live_coverage_is_reported_beside_the_mae_and_never_alarms() -> None:
    # Ranges [2, 4] and [3, 5] hold the outcome 4; [5, 7] misses it; one was logged without.
    pairs = _pairs([2, 3, 5, None] * 50)
    result = _judged(1.0 * HOLDOUT_MAE, pairs.height, pairs)
    assert (result.coverage, result.coverage_rows) == (pytest.approx(2 / 3), 150)
    assert (result.interval_level, result.holdout_coverage) == (0.8, 0.81)
    assert not result.detected  # far under the level, yet coverage is reported, not judged
    assert drift_metrics(result)["coverage"] == pytest.approx(2 / 3)
    assert drift_metrics(result)["coverage_rows"] == 150
    words = "interval coverage on 150 outcomes: 0.667 (calibrated for 0.80; holdout coverage 0.810)"
    assert words in summary_lines(result)
    assert f"I{words[1:]}." in markdown(result)


def test_without_ranged_outcomes_no_coverage_is_shown() -> None:
    result = _judged(1.0 * HOLDOUT_MAE, MIN_ROWS)
    assert (result.coverage, result.coverage_rows) == (None, 0)
    assert "coverage" not in drift_metrics(result)
    assert drift_metrics(result)["outcome_rows"] == MIN_ROWS
    assert not any("coverage" in line for line in summary_lines(result))
    assert "coverage" not in markdown(result)


def test_the_share_of_inputs_outside_the_champions_training_ranges_is_reported() -> None:
    settings = Settings()
    seen = observe(np.vstack([np.zeros(len(FEATURE_NAMES)), np.full(len(FEATURE_NAMES), 10.0)]))
    values = np.full((4, len(FEATURE_NAMES)), 5.0)
    values[1, 0] = 11.0  # one row with two features outside, one with one
    values[1, -1] = -1.0
    values[3, -1] = 10.5
    rows = pl.DataFrame(values, schema=list(FEATURE_NAMES))
    current = Current(kind="snapshot", source="snapshot s", rows=rows)
    champion = Champion("1", None, "s", None, 0.8, None, input_ranges=seen)
    numbers = Numbers(share_drifted=0.0, columns={}, mae=None, html="")
    result = judge(settings, champion, rows, current, (None, _pairs([])), numbers)
    assert result.out_of_range_share == 0.5
    assert result.out_of_range[FEATURE_NAMES[-1]] == 0.5
    assert result.out_of_range[FEATURE_NAMES[0]] == 0.25
    assert drift_metrics(result)["out_of_range_share"] == 0.5
    line = (
        f"outside the champion's training ranges: 50.0% of current rows (most: {FEATURE_NAMES[-1]}"
    )
    assert any(line in text for text in summary_lines(result))
    assert line in markdown(result)
    unrecorded = judge(
        settings, replace(champion, input_ranges=None), rows, current, (None, _pairs([])), numbers
    )
    assert (unrecorded.out_of_range_share, unrecorded.out_of_range) == (None, {})
    assert "training ranges" not in markdown(unrecorded)
