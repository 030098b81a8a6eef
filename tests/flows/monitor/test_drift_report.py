"""The Evidently report says what the drift flow decides: same threshold, same verdict."""

from __future__ import annotations

import polars as pl
import pytest

from features.contract.formulas import with_features
from features.settings import PROJECT_ROOT, Settings
from flows.evaluation import feature_frame
from flows.monitor import drift_report

pytestmark = pytest.mark.slow  # Evidently's import and one report: ~10 s


@pytest.fixture(scope="module")
def reference() -> pl.DataFrame:
    return with_features(pl.scan_csv(PROJECT_ROOT / "data" / "vehicles.csv")).collect()


def _headline(numbers: drift_report.Numbers, share: float) -> bool:
    """Whether the report's dataset headline says drift, at `share` (it names the threshold)."""
    detected = f"Dataset Drift is detected. Dataset drift detection threshold is {share}"
    missed = f"Dataset Drift is NOT detected. Dataset drift detection threshold is {share}"
    assert (detected in numbers.html) != (missed in numbers.html), "no headline at that share"
    return detected in numbers.html


def test_three_of_eight_drifted_is_drift_in_the_report_as_in_the_flow(
    reference: pl.DataFrame,
) -> None:
    """3 of 8 features (share 0.375) is drift at fleetcast's 0.3; Evidently's default of 0.5
    would headline "NOT detected" while the flow retrains."""
    share = Settings().drift_share_threshold
    current = reference.with_columns(
        pl.col("actual_price") * 1.6, pl.col("price_diff") + 40, pl.col("price_ratio") * 1.6
    )
    numbers = drift_report.run(feature_frame(reference), feature_frame(current), None, share)
    assert numbers.share_drifted == pytest.approx(3 / 8) and numbers.share_drifted >= share
    assert _headline(numbers, share)


def test_no_drift_is_no_drift_in_the_report(reference: pl.DataFrame) -> None:
    share = Settings().drift_share_threshold
    frame = feature_frame(reference)
    numbers = drift_report.run(frame, frame, None, share)
    assert numbers.share_drifted == 0 and not _headline(numbers, share)
