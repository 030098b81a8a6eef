"""Test data built on the contract: rows are validated by the schema models, headers derived."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from features.contract.schema import (
    EXAMPLE_VEHICLE,
    TIMESTAMP_FORMAT,
    RawRecord,
    ReservationRecord,
    VehicleRecord,
    columns,
)

_VEHICLE_DEFAULTS = EXAMPLE_VEHICLE.model_dump()


def vehicle(vehicle_id: int, **overrides: Any) -> dict[str, Any]:
    """A valid vehicle row (the contract validates the overrides)."""
    return VehicleRecord(
        **(_VEHICLE_DEFAULTS | {"vehicle_id": vehicle_id} | overrides)
    ).model_dump()


def reservation(vehicle_id: int, created_at: str | dt.datetime) -> dict[str, Any]:
    """A valid reservation row."""
    when = (
        created_at
        if isinstance(created_at, dt.datetime)
        else dt.datetime.strptime(created_at, TIMESTAMP_FORMAT)
    )
    return ReservationRecord(vehicle_id=vehicle_id, created_at=when).model_dump()


def _text(value: Any) -> str:
    return value.strftime(TIMESTAMP_FORMAT) if isinstance(value, dt.datetime) else str(value)


def write_csv(path: Path, model: type[RawRecord], rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write rows (valid or deliberately broken) under the contract's header for `model`."""
    header = columns(model)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_text(row.get(c, "")) for c in header])
    return path


def write_vehicles(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    return write_csv(path, VehicleRecord, rows)


def write_reservations(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    return write_csv(path, ReservationRecord, rows)
