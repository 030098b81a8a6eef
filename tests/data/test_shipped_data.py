"""The shipped CSVs in data/: contract-valid, and shaped like the marketplace we model."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from features.contract.formulas import FEATURE_EXPRS
from features.contract.schema import (
    ENTITY,
    TIMESTAMP_FORMAT,
    ReservationRecord,
    VehicleRecord,
    columns,
)
from features.settings import PROJECT_ROOT

DATA = PROJECT_ROOT / "data"
YEAR = 2023


def _text(name: str) -> pl.DataFrame:
    """A shipped CSV as raw text, exactly as ingest would first see it."""
    return pl.read_csv(DATA / name, infer_schema=False)


@pytest.fixture(scope="module")
def vehicles() -> pl.DataFrame:
    return pl.read_csv(DATA / "vehicles.csv")


@pytest.fixture(scope="module")
def reservations() -> pl.DataFrame:
    frame = pl.read_csv(DATA / "reservations.csv", infer_schema=False)
    return frame.with_columns(
        pl.col(ENTITY).cast(pl.Int64),
        pl.col("created_at").str.strptime(pl.Datetime("us"), TIMESTAMP_FORMAT, strict=True),
    )


@pytest.fixture(scope="module")
def counted(vehicles: pl.DataFrame, reservations: pl.DataFrame) -> pl.DataFrame:
    """Vehicles with their reservation count (0 for vehicles never booked)."""
    counts = reservations.group_by(ENTITY).agg(pl.len().cast(pl.Int64).alias("n"))
    return vehicles.join(counts, on=ENTITY, how="left").with_columns(pl.col("n").fill_null(0))


def test_headers_are_the_contract_columns() -> None:
    assert _text("vehicles.csv").columns == columns(VehicleRecord)
    assert _text("reservations.csv").columns == columns(ReservationRecord)


def test_every_row_validates_against_the_contract() -> None:
    for row in _text("vehicles.csv").iter_rows(named=True):
        VehicleRecord.model_validate(row)
    for row in _text("reservations.csv").iter_rows(named=True):
        ReservationRecord.model_validate(row)


def test_vehicle_ids_are_unique(vehicles: pl.DataFrame) -> None:
    assert vehicles[ENTITY].is_unique().all()
    assert vehicles.height == 1000


def test_every_reservation_has_a_vehicle(
    vehicles: pl.DataFrame, reservations: pl.DataFrame
) -> None:
    orphans = reservations.join(vehicles, on=ENTITY, how="anti")
    assert orphans.height == 0


def test_no_duplicate_reservation_rows(reservations: pl.DataFrame) -> None:
    assert not reservations.is_duplicated().any()


def test_reservations_fall_in_the_year(reservations: pl.DataFrame) -> None:
    created = reservations["created_at"]
    assert created.null_count() == 0
    assert created.min() >= dt.datetime(YEAR, 1, 1)
    assert created.max() < dt.datetime(YEAR + 1, 1, 1)


# The real marketplace's 2023 data, which the shipped data is calibrated to: 1,000 listings,
# 6,376 reservations; counts with mean 6.4, median 5, std 4.9, max 25, ~9% never booked.
def test_count_statistics(counted: pl.DataFrame) -> None:
    n = counted["n"]
    assert 5.9 <= n.mean() <= 6.9
    assert 4 <= n.median() <= 6
    assert 4.4 <= n.std() <= 5.4
    assert 20 <= n.max() <= 30
    assert 0.06 <= (n == 0).mean() <= 0.12


def test_prices_look_like_the_marketplace(vehicles: pl.DataFrame) -> None:
    actual, recommended = vehicles["actual_price"], vehicles["recommended_price"]
    assert actual.is_between(30, 180).all()
    assert (actual != actual.round(0)).mean() > 0.9  # owners set cents
    assert (actual == actual.round(2)).all()  # and nothing finer
    assert (recommended == recommended.round(0)).all()  # the marketplace recommends whole prices
    assert recommended.is_between(35, 90).all()


def test_listing_attributes_look_like_the_marketplace(vehicles: pl.DataFrame) -> None:
    description = vehicles["description"]
    assert description.is_between(1, 250).all()
    assert 40 <= description.median() <= 80
    assert 0.12 <= vehicles["technology"].mean() <= 0.22
    assert vehicles["num_images"].is_between(1, 6).all()


def _correlation(counted: pl.DataFrame, feature: pl.Expr) -> float:
    return counted.select(pl.corr(feature, pl.col("n"))).item()


# Pearson correlation with the count in the real data. The shipped data must come within
# CORRELATION_TOLERANCE: the sign and rough size of the strong ones, ~0 for the weak ones.
REAL_CORRELATIONS = {
    "price_ratio": -0.40,
    "price_diff": -0.37,
    "actual_price": -0.26,
    "num_images": 0.22,
    "technology": 0.14,
    "description": 0.02,  # ~0 only because its effect is not linear (see below)
    "street_parked": -0.02,
    "recommended_price": -0.01,
}
CORRELATION_TOLERANCE = 0.1


@pytest.mark.parametrize("feature", sorted(REAL_CORRELATIONS))
def test_correlations_with_the_count_match_the_real_data(
    counted: pl.DataFrame, feature: str
) -> None:
    shipped = _correlation(counted, FEATURE_EXPRS[feature])
    assert shipped == pytest.approx(REAL_CORRELATIONS[feature], abs=CORRELATION_TOLERANCE)


def _mean_count(counted: pl.DataFrame, where: pl.Expr) -> float:
    return counted.filter(where)["n"].mean()


def test_overpriced_listings_get_fewer_reservations(counted: pl.DataFrame) -> None:
    ratio = pl.col("actual_price") / pl.col("recommended_price")
    assert _mean_count(counted, ratio > 1.3) < 0.6 * _mean_count(counted, ratio < 1.0)


def test_technology_brings_more_reservations(counted: pl.DataFrame) -> None:
    tech = pl.col("technology")
    assert _mean_count(counted, tech == 1) > _mean_count(counted, tech == 0)


def test_more_photos_bring_more_reservations(counted: pl.DataFrame) -> None:
    photos = pl.col("num_images")
    few, some, many = (photos <= 2), (photos == 3), (photos >= 4)
    assert _mean_count(counted, few) < _mean_count(counted, some) < _mean_count(counted, many)


def test_moderate_descriptions_beat_extremes(counted: pl.DataFrame) -> None:
    length = pl.col("description")
    moderate = _mean_count(counted, length.is_between(40, 120))
    assert moderate > 1.15 * _mean_count(counted, length < 20)
    assert moderate > 1.15 * _mean_count(counted, length > 180)


def _share(reservations: pl.DataFrame, part: pl.Expr, values: list[int]) -> float:
    return reservations.select(part.is_in(values).mean()).item()


def test_weekly_rhythm(reservations: pl.DataFrame) -> None:
    weekday = pl.col("created_at").dt.weekday()  # Monday = 1
    assert _share(reservations, weekday, [5, 6]) > _share(reservations, weekday, [1, 2])


def test_seasonal_rhythm(reservations: pl.DataFrame) -> None:
    month = pl.col("created_at").dt.month()
    assert _share(reservations, month, [7, 8]) > _share(reservations, month, [1, 2])
