"""The holdout by slice: rows, MAE and coverage per technology, street parking and price band."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from support.factories import vehicle

from features.contract.formulas import FEATURE_NAMES, features_of
from features.contract.intervals import Calibration
from features.contract.schema import VehicleRecord
from flows.promote import slices
from flows.promote.gate import Contender

# Zero-width intervals: a vehicle is inside its interval exactly when the forecast is exact.
EXACT = Calibration(level=0.8, lower=0.0, upper=0.0, rows=100)
LABELS = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
CANDIDATE = LABELS + np.array([0, 1, 0, 2, 0, 0])  # off on vehicles 2 and 4
CHAMPION = LABELS + np.array([1, 0, 0, 0, 0, 3])  # off on vehicles 1 and 6


@pytest.fixture(scope="module")
def holdout() -> pl.DataFrame:
    # (technology, street_parked, actual price) at a recommended price of 60: price ratios
    # 0.83, 0.90 (a band's lower edge), 1.00, 1.10 (the next band's edge), 1.50, 0.99.
    listings = [(0, 0, 50.0), (0, 1, 54.0), (1, 0, 60.0), (1, 1, 66.0), (1, 1, 90.0), (0, 0, 59.4)]
    records = [
        VehicleRecord(
            **vehicle(i + 1, technology=t, street_parked=s, actual_price=p, recommended_price=60)
        )
        for i, (t, s, p) in enumerate(listings)
    ]
    return features_of(records)


def _by_slice(table: tuple[slices.Slice, ...]) -> dict[tuple[str, str], slices.Slice]:
    return {(s.feature, s.value): s for s in table}


def test_the_sliced_columns_are_the_contract_s() -> None:
    assert set(slices.BINARY_SLICES) <= set(VehicleRecord.model_fields)
    assert slices.PRICE_RATIO in FEATURE_NAMES


def test_each_slice_has_its_rows_mae_and_coverage_beside_the_champion(
    holdout: pl.DataFrame,
) -> None:
    candidate = Contender.scored("2", LABELS, CANDIDATE, EXACT)
    champion = Contender.scored("1", LABELS, CHAMPION, None)
    table = slices.slice_table(holdout, LABELS, candidate, champion)
    by = _by_slice(table)
    no_kit = by[("technology", "0")]  # vehicles 1, 2 and 6
    assert no_kit.rows == 3
    assert no_kit.candidate_mae == pytest.approx(1 / 3) and no_kit.champion_mae == 4 / 3
    assert no_kit.candidate_coverage == pytest.approx(2 / 3)
    assert no_kit.champion_coverage is None  # it has no calibration
    assert by[("street_parked", "1")].candidate_mae == 1.0  # vehicles 2, 4 and 5
    for feature in ("technology", "street_parked", "price_band"):
        assert sum(s.rows for s in table if s.feature == feature) == len(LABELS)


def test_price_bands_have_their_edges_on_the_upper_side_and_come_in_order(
    holdout: pl.DataFrame,
) -> None:
    candidate = Contender.scored("2", LABELS, LABELS, EXACT)
    table = slices.slice_table(holdout, LABELS, candidate, None)
    bands = [(s.value, s.rows) for s in table if s.feature == slices.PRICE_BAND]
    assert bands == [("<0.9", 1), ("0.9-1.1", 3), (">=1.1", 2)]
    assert all(s.champion_mae is None for s in table)


def test_no_predictions_no_slices(holdout: pl.DataFrame) -> None:
    refused = Contender("2", error="failed to load")
    assert slices.slice_table(holdout, LABELS, refused, None) == ()
    assert slices.to_markdown(()) == []


def test_the_table_renders_as_csv_and_markdown(holdout: pl.DataFrame) -> None:
    candidate = Contender.scored("2", LABELS, CANDIDATE, EXACT)
    table = slices.slice_table(holdout, LABELS, candidate, None)
    csv = pl.read_csv(slices.to_csv(table).encode(), schema_overrides={"value": pl.String})
    assert csv.columns[:3] == ["feature", "value", "rows"] and csv.height == len(table)
    assert csv.filter(pl.col("feature") == "technology")["rows"].to_list() == [3, 3]
    markdown = slices.to_markdown(table)
    assert markdown[2] == "| technology = 0 | 3 | 0.333 | - | 66.7% | - |"


def test_an_empty_slice_is_shown_with_no_rows(holdout: pl.DataFrame) -> None:
    # Without vehicle 1, nothing is priced below 0.9 times the recommendation.
    rest = slice(1, None)
    candidate = Contender.scored("2", LABELS[rest], CANDIDATE[rest], EXACT)
    table = slices.slice_table(holdout[rest], LABELS[rest], candidate, None)
    cheap = _by_slice(table)[(slices.PRICE_BAND, "<0.9")]
    assert cheap.rows == 0 and cheap.candidate_mae is None and cheap.candidate_coverage is None
    assert "| price_band = <0.9 | 0 | - | - | - | - |" in slices.to_markdown(table)
