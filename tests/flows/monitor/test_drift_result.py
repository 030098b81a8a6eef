"""The drift verdict's error rule: regressed only when enough outcomes pass the MAE ratio."""

from __future__ import annotations

import polars as pl
import pytest

from features.contract.schema import ENTITY
from features.settings import Settings
from flows.monitor.drift_data import Current
from flows.monitor.drift_report import Numbers
from flows.monitor.drift_result import Champion, DriftResult, judge

HOLDOUT_MAE = 2.0
THRESHOLD, MIN_ROWS = 1.25, 200


def _judged(outcome_mae: float, outcome_rows: int) -> DriftResult:
    settings = Settings(drift_mae_ratio_threshold=THRESHOLD, drift_min_rows=MIN_ROWS)
    rows = pl.DataFrame({ENTITY: list(range(1, outcome_rows + 1))})
    champion = Champion(version="1", run_id=None, snapshot_id="s", holdout_mae=HOLDOUT_MAE)
    numbers = Numbers(share_drifted=0.0, columns={}, mae=outcome_mae, html="")
    current = Current(kind="predictions", source="predictions since then", rows=rows)
    return judge(settings, champion, rows, current, ("s", rows), numbers)


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
