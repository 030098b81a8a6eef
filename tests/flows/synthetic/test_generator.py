"""The synthetic-data generator: deterministic, contract-valid, chunked and atomic."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

import flows.synthetic.generator as generate_module
from features.contract.schema import (
    ENTITY,
    TIMESTAMP_FORMAT,
    ReservationRecord,
    VehicleRecord,
    columns,
)
from features.settings import PROJECT_ROOT
from flows.synthetic.generator import DEFAULT_RESERVATIONS_PER_VEHICLE, ShiftedMonth, generate


def _bytes(out_dir: Path) -> tuple[bytes, bytes]:
    return (out_dir / "vehicles.csv").read_bytes(), (out_dir / "reservations.csv").read_bytes()


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    generate(tmp_path / "a", n_vehicles=300, seed=7, chunk_vehicles=64)
    generate(tmp_path / "b", n_vehicles=300, seed=7, chunk_vehicles=64)
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")


def test_different_seed_gives_different_data(tmp_path: Path) -> None:
    generate(tmp_path / "a", n_vehicles=300, seed=7)
    generate(tmp_path / "b", n_vehicles=300, seed=8)
    first, second = _bytes(tmp_path / "a"), _bytes(tmp_path / "b")
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_chunked_output_is_contract_valid(tmp_path: Path) -> None:
    summary = generate(tmp_path, n_vehicles=200, seed=3, chunk_vehicles=64)
    vehicles = pl.read_csv(summary.vehicles_path, infer_schema=False)
    reservations = pl.read_csv(summary.reservations_path, infer_schema=False)
    assert vehicles.columns == columns(VehicleRecord)
    assert reservations.columns == columns(ReservationRecord)
    for row in vehicles.iter_rows(named=True):
        VehicleRecord.model_validate(row)
    for row in reservations.iter_rows(named=True):
        ReservationRecord.model_validate(row)
    assert vehicles[ENTITY].cast(pl.Int64).to_list() == list(range(1, 201))
    assert reservations.height == summary.n_reservations
    assert summary.n_vehicles == 200
    assert not reservations.is_duplicated().any()


def test_summary_counts_match_the_files(tmp_path: Path) -> None:
    summary = generate(tmp_path, n_vehicles=500, seed=5, chunk_vehicles=128)
    reservations = pl.read_csv(summary.reservations_path)
    booked = reservations[ENTITY].n_unique()
    assert summary.n_vehicles_without_reservations == summary.n_vehicles - booked
    assert summary.n_vehicles_without_reservations > 0


def test_timestamps_stay_in_the_requested_year(tmp_path: Path) -> None:
    summary = generate(tmp_path, n_vehicles=300, seed=1, year=2024)
    created = pl.read_csv(summary.reservations_path, infer_schema=False)["created_at"]
    parsed = created.str.strptime(pl.Datetime("us"), TIMESTAMP_FORMAT, strict=True)
    assert parsed.min() >= dt.datetime(2024, 1, 1)
    assert parsed.max() < dt.datetime(2025, 1, 1)


def test_reservations_per_vehicle_rescales_the_mean(tmp_path: Path) -> None:
    summary = generate(tmp_path, n_vehicles=2000, seed=2, reservations_per_vehicle=20)
    assert 18.5 <= summary.n_reservations / summary.n_vehicles <= 21.5


def test_the_defaults_reproduce_the_shipped_data_byte_for_byte(tmp_path: Path) -> None:
    generate(tmp_path)
    assert _bytes(tmp_path) == _bytes(PROJECT_ROOT / "data")


def test_a_shifted_month_raises_prices_drops_photos_and_books_only_in_that_month(
    tmp_path: Path,
) -> None:
    base = generate(tmp_path / "base", n_vehicles=4000, seed=9, year=2024)
    shifted = generate(
        tmp_path / "shifted",
        n_vehicles=4000,
        seed=9,
        year=2024,
        first_id=10_001,
        shifted=ShiftedMonth(month=3),
    )
    before, after = pl.read_csv(base.vehicles_path), pl.read_csv(shifted.vehicles_path)
    for row in pl.read_csv(shifted.vehicles_path, infer_schema=False).iter_rows(named=True):
        VehicleRecord.model_validate(row)
    assert after[ENTITY].to_list() == list(range(10_001, 14_001))
    ratio = (pl.col("actual_price") / pl.col("recommended_price")).median()
    assert after.select(ratio).item() == pytest.approx(1.2 * before.select(ratio).item(), rel=0.05)
    # 1-5 photos (3 on average) minus 2, never below 0: a mean near 1.06 instead of 3.
    assert before["num_images"].mean() - after["num_images"].mean() == pytest.approx(1.94, abs=0.1)
    assert after["num_images"].min() == 0
    # Raised prices keep the contract's shape: cents, and above 0.
    assert (after["actual_price"] == after["actual_price"].round(2)).all()
    assert after["actual_price"].min() > 0
    booked = pl.read_csv(shifted.reservations_path, try_parse_dates=True)["created_at"]
    assert booked.min() >= dt.datetime(2024, 3, 1) and booked.max() < dt.datetime(2024, 4, 1)
    # A month of the year's demand, and less of it: the demand model punishes the shift.
    march = DEFAULT_RESERVATIONS_PER_VEHICLE * 31 / 366
    assert 0.3 * march < shifted.n_reservations / shifted.n_vehicles < 0.9 * march


def test_a_shifted_month_draws_new_listings_not_the_years_again(tmp_path: Path) -> None:
    year = generate(tmp_path / "year", n_vehicles=200, year=2024)
    month = generate(tmp_path / "month", n_vehicles=200, year=2024, shifted=ShiftedMonth(1))
    unshifted = ["recommended_price", "description"]
    first, second = (pl.read_csv(s.vehicles_path).select(unshifted) for s in (year, month))
    assert not first.equals(second)


def test_failed_run_leaves_previous_files_and_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate(tmp_path, n_vehicles=100, seed=1)
    before = _bytes(tmp_path)

    def broken(*args: object) -> pl.DataFrame:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(generate_module, "_reservations", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        generate(tmp_path, n_vehicles=100, seed=2)
    assert _bytes(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reservations.csv", "vehicles.csv"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_vehicles": 0},
        {"chunk_vehicles": 0},
        {"reservations_per_vehicle": 0.0},
        {"first_id": 0},
        {"shifted": ShiftedMonth(month=13)},
        {"shifted": ShiftedMonth(month=1, images_removed=-1)},
    ],
)
def test_rejects_nonsense_arguments(tmp_path: Path, kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)
