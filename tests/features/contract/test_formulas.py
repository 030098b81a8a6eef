"""Feature formulas and the point-in-time feature table."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from support.factories import reservation, vehicle

from features.contract.formulas import (
    FEATURE_NAMES,
    FIRST_SEEN,
    TARGET,
    feature_matrix,
    features_of,
    with_features,
)
from features.contract.point_in_time import feature_table
from features.contract.schema import (
    INGEST_SEQ,
    VALID_FROM,
    ReservationRecord,
    VehicleRecord,
    polars_schema,
)
from features.settings import Settings

T0 = dt.datetime(2023, 1, 1)


def _vehicles(
    rows: list[dict], valid_from: dt.datetime | None = None, seq: int = 1
) -> pl.LazyFrame:
    frame = pl.DataFrame(rows, schema=polars_schema(VehicleRecord))
    return frame.with_columns(
        pl.lit(valid_from, pl.Datetime("us")).alias(VALID_FROM), pl.lit(seq).alias(INGEST_SEQ)
    ).lazy()


def _reservations(rows: list[dict]) -> pl.LazyFrame:
    return pl.DataFrame(rows, schema=polars_schema(ReservationRecord)).lazy()


def test_price_features() -> None:
    row = features_of([VehicleRecord(**vehicle(1, actual_price=75.0, recommended_price=50.0))])
    assert row["price_diff"].item() == 25.0
    assert row["price_ratio"].item() == 1.5


def test_one_row_and_batch_paths_agree() -> None:
    rows = [vehicle(i, actual_price=10.0 + i, num_images=i % 7) for i in range(1, 50)]
    batch = with_features(pl.DataFrame(rows, schema=polars_schema(VehicleRecord)).lazy()).collect()
    one_by_one = pl.concat([features_of([VehicleRecord(**r)]) for r in rows])
    assert batch.equals(one_by_one)
    assert list(batch.columns[1:]) == list(FEATURE_NAMES)


def test_serving_matrix_equals_the_polars_features_on_every_shipped_vehicle() -> None:
    shipped = pl.read_csv(Settings().data_dir / "vehicles.csv")
    records = [VehicleRecord(**row) for row in shipped.iter_rows(named=True)]
    tables = features_of(records).select(FEATURE_NAMES).to_numpy().astype(np.float64)
    served = feature_matrix(records)
    assert served.dtype == np.float64 and served.shape == (len(records), len(FEATURE_NAMES))
    assert np.array_equal(served, tables)  # bit for bit, not approximately


def test_serving_matrix_of_one_extreme_listing_equals_the_polars_features() -> None:
    listing = VehicleRecord(
        **vehicle(
            7, actual_price=1e-300, recommended_price=3.0e300, num_images=2**53, description=0
        )
    )
    tables = features_of([listing]).select(FEATURE_NAMES).to_numpy().astype(np.float64)
    assert np.array_equal(feature_matrix([listing]), tables)


def test_only_reservations_before_as_of_count() -> None:
    vehicles = _vehicles([vehicle(1), vehicle(2)])
    reservations = _reservations(
        [
            reservation(1, T0),
            reservation(1, "2023-03-01 00:00:00"),
            reservation(1, "2023-06-01 00:00:00"),
        ]
    )
    table = feature_table(vehicles, reservations, dt.datetime(2023, 6, 1), new_listing_days=30)
    assert table.collect()[TARGET].to_list() == [2, 0]  # the 2023-06-01 booking is not before as_of


def test_vehicle_without_reservations_is_labeled_zero_not_null() -> None:
    table = feature_table(
        _vehicles([vehicle(1), vehicle(2)]),
        _reservations([reservation(1, T0)]),
        dt.datetime(2023, 12, 31),
        new_listing_days=30,
    ).collect()
    assert table.filter(pl.col("vehicle_id") == 2)[TARGET].item() == 0


def test_new_listing_has_no_label_but_is_in_the_table() -> None:
    first_load = _vehicles([vehicle(1)])
    arrival = _vehicles([vehicle(2)], valid_from=dt.datetime(2023, 12, 20), seq=2)
    reservations = _reservations([reservation(1, T0), reservation(2, "2023-12-21 09:00:00")])
    table = feature_table(
        pl.concat([first_load, arrival]),
        reservations,
        dt.datetime(2023, 12, 31),
        new_listing_days=30,
    ).collect()
    assert table[TARGET].to_list() == [1, None]
    assert table[FIRST_SEEN].to_list() == [T0, dt.datetime(2023, 12, 20)]


def test_vehicle_versions_are_point_in_time() -> None:
    old = _vehicles([vehicle(1, actual_price=50.0)])
    new = _vehicles([vehicle(1, actual_price=90.0)], valid_from=dt.datetime(2023, 6, 1), seq=2)
    reservations = _reservations([reservation(1, T0)])
    both = pl.concat([old, new])
    before = feature_table(both, reservations, dt.datetime(2023, 5, 1), 30).collect()
    after = feature_table(both, reservations, dt.datetime(2023, 7, 1), 30).collect()
    assert before["actual_price"].item() == 50.0
    assert after["actual_price"].item() == 90.0
    assert after[FIRST_SEEN].item() == T0  # first seen stays the first version's time


def test_vehicle_unknown_at_as_of_is_left_out() -> None:
    later = _vehicles([vehicle(3)], valid_from=dt.datetime(2023, 9, 1), seq=2)
    table = feature_table(
        pl.concat([_vehicles([vehicle(1)]), later]),
        _reservations([reservation(1, T0)]),
        dt.datetime(2023, 8, 1),
        30,
    ).collect()
    assert table["vehicle_id"].to_list() == [1]


@pytest.mark.parametrize("days", [0, 10])
def test_new_listing_window_is_a_setting(days: int) -> None:
    vehicles = _vehicles([vehicle(1)])
    reservations = _reservations([reservation(1, "2023-12-25 00:00:00")])
    table = feature_table(vehicles, reservations, dt.datetime(2024, 1, 1), days).collect()
    assert table[TARGET].item() == (1 if days == 0 else None)
