"""The shipped CSVs in data/: contract-valid, and shaped like the marketplace we model."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

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


def test_count_statistics(counted: pl.DataFrame) -> None:
    n = counted["n"]
    assert 6.0 <= n.mean() <= 6.8
    assert 4 <= n.median() <= 6
    assert 4.4 <= n.std() <= 5.4
    assert 20 <= n.max() <= 30
    assert (n == 0).sum() >= 5


def _mean_count(counted: pl.DataFrame, where: pl.Expr) -> float:
    return counted.filter(where)["n"].mean()


def test_overpriced_listings_get_fewer_reservations(counted: pl.DataFrame) -> None:
    ratio = pl.col("actual_price") / pl.col("recommended_price")
    assert _mean_count(counted, ratio > 1.2) < _mean_count(counted, ratio < 1.0)


def test_technology_brings_more_reservations(counted: pl.DataFrame) -> None:
    tech = pl.col("technology")
    assert _mean_count(counted, tech == 1) > _mean_count(counted, tech == 0)


def test_more_photos_bring_more_reservations(counted: pl.DataFrame) -> None:
    photos = pl.col("num_images")
    few, some, many = (photos <= 2), (photos.is_between(3, 5)), (photos >= 6)
    assert _mean_count(counted, few) < _mean_count(counted, some) < _mean_count(counted, many)


def test_moderate_descriptions_beat_extremes(counted: pl.DataFrame) -> None:
    length = pl.col("description")
    moderate = _mean_count(counted, length.is_between(300, 1500))
    assert moderate > _mean_count(counted, length < 100)
    assert moderate > _mean_count(counted, length > 4000)


def _share(reservations: pl.DataFrame, part: pl.Expr, values: list[int]) -> float:
    return reservations.select(part.is_in(values).mean()).item()


def test_weekly_rhythm(reservations: pl.DataFrame) -> None:
    weekday = pl.col("created_at").dt.weekday()  # Monday = 1
    assert _share(reservations, weekday, [5, 6]) > _share(reservations, weekday, [1, 2])


def test_seasonal_rhythm(reservations: pl.DataFrame) -> None:
    month = pl.col("created_at").dt.month()
    assert _share(reservations, month, [7, 8]) > _share(reservations, month, [1, 2])
