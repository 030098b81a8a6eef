"""The contract's rules: each one derived from the models, each one able to reject a row."""

from __future__ import annotations

import polars as pl
import pytest

from features.contract.schema import (
    ReservationRecord,
    VehicleRecord,
    columns,
    polars_schema,
)
from flows.ingest.rows import RULE, check_rows

GOOD = {
    "vehicle_id": "7",
    "technology": "1",
    "actual_price": "55.5",
    "recommended_price": "50",
    "num_images": "3",
    "street_parked": "0",
    "description": "250",
}


def _rule_of(model: type, **overrides: str | None) -> str | None:
    row = (
        GOOD if model is VehicleRecord else {"vehicle_id": "7", "created_at": "2023-03-01 08:00:00"}
    ) | overrides
    frame = pl.LazyFrame({k: [v] for k, v in row.items()}, schema={c: pl.String for c in row})
    return check_rows(frame, model).collect()[RULE][0]


def test_columns_and_dtypes_come_from_the_models() -> None:
    assert columns(VehicleRecord) == list(VehicleRecord.model_fields)
    assert polars_schema(VehicleRecord)["actual_price"] == pl.Float64
    assert polars_schema(ReservationRecord)["created_at"] == pl.Datetime("us")


def test_a_valid_row_breaks_no_rule() -> None:
    assert _rule_of(VehicleRecord) is None
    assert _rule_of(ReservationRecord) is None


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("vehicle_id", "0", "vehicle_id must be > 0"),
        ("vehicle_id", "-3", "vehicle_id must be > 0"),
        ("vehicle_id", "1.5", "vehicle_id must be an integer"),
        ("technology", "2", "technology must be <= 1"),
        ("street_parked", "-1", "street_parked must be >= 0"),
        ("actual_price", "0", "actual_price must be > 0"),
        ("actual_price", "inf", "actual_price must be finite"),
        ("recommended_price", "NaN", "recommended_price must be finite"),
        ("recommended_price", "cheap", "recommended_price must be a number"),
        ("num_images", "-1", "num_images must be >= 0"),
        ("description", "2.5", "description must be an integer"),
        ("description", "", "description is required"),
        ("num_images", None, "num_images is required"),
    ],
)
def test_each_vehicle_rule_names_its_field(field: str, value: str | None, rule: str) -> None:
    assert _rule_of(VehicleRecord, **{field: value}) == rule


@pytest.mark.parametrize(
    "value", ["2023-02-30 10:00:00", "2023-01-01", "yesterday", "2023/01/01 10:00:00"]
)
def test_created_at_must_be_a_real_timestamp_in_the_contract_format(value: str) -> None:
    assert _rule_of(ReservationRecord, created_at=value) == (
        "created_at must be a timestamp YYYY-MM-DD HH:MM:SS"
    )


def test_every_broken_rule_is_reported() -> None:
    assert _rule_of(VehicleRecord, technology="5", num_images="x") == (
        "num_images must be an integer; technology must be <= 1"
    )


def test_the_pydantic_model_enforces_the_same_rules() -> None:
    with pytest.raises(ValueError, match="actual_price"):
        VehicleRecord(**(GOOD | {"actual_price": "inf"}))
    with pytest.raises(ValueError, match="technology"):
        VehicleRecord(**(GOOD | {"technology": "3"}))
    with pytest.raises(ValueError, match="color"):
        VehicleRecord(**(GOOD | {"color": "red"}))
