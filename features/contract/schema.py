"""The raw data contract: one pydantic model per record kind; everything else is derived from it.

Column lists, Polars dtypes and the row rules that ingest applies all come from the field
annotations and constraints below, so a rule is changed here and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import annotated_types as at
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from pydantic.fields import FieldInfo

SCHEMA_VERSION = 1
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
ENTITY = "vehicle_id"
# Lineage columns the raw store adds to vehicles: when a version became known (on the data's
# own clock; null = present since history began) and the sequence number of the file that
# brought it (files are numbered in ingest order), which orders versions with equal times.
VALID_FROM = "valid_from"
INGEST_SEQ = "ingest_seq"


class RawRecord(BaseModel):
    """Base of every raw record: unknown fields and non-finite numbers are errors."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class VehicleRecord(RawRecord):
    """One listing, as in `vehicles.csv`."""

    vehicle_id: int = Field(gt=0, description="Listing id, unique across the marketplace.")
    technology: int = Field(ge=0, le=1, description="1 if the car has the connected-car kit.")
    actual_price: float = Field(gt=0, description="Daily price the owner set.")
    recommended_price: float = Field(gt=0, description="Daily price the marketplace recommended.")
    num_images: int = Field(ge=0, description="Photos on the listing.")
    street_parked: int = Field(ge=0, le=1, description="1 if the car is parked on the street.")
    description: int = Field(ge=0, description="Length of the listing's description, characters.")


# A typical listing of the marketplace (near the real data's medians): the one example the
# CLI, the API docs, the service's smoke test and the tests' factory all show.
EXAMPLE_VEHICLE = VehicleRecord(
    vehicle_id=1,
    technology=0,
    actual_price=64.5,
    recommended_price=60.0,
    num_images=3,
    street_parked=0,
    description=58,
)


class ReservationRecord(RawRecord):
    """One reservation, as in `reservations.csv`."""

    vehicle_id: int = Field(gt=0, description="The reserved listing; must exist in vehicles.")
    created_at: dt.datetime = Field(description=f"When it was booked, `{TIMESTAMP_FORMAT}`.")


_POLARS_DTYPES: dict[type, pl.DataType] = {
    int: pl.Int64(),
    float: pl.Float64(),
    dt.datetime: pl.Datetime("us"),
}
# The record kinds: one CSV file, raw-store table and pydantic model each.
RecordKind = Literal["vehicles", "reservations"]
VEHICLES: RecordKind = "vehicles"
RESERVATIONS: RecordKind = "reservations"
RECORDS: dict[RecordKind, type[RawRecord]] = {
    VEHICLES: VehicleRecord,
    RESERVATIONS: ReservationRecord,
}
KINDS: tuple[RecordKind, ...] = tuple(RECORDS)

_TYPE_WORDS = {int: "an integer", float: "a number", dt.datetime: "a timestamp YYYY-MM-DD HH:MM:SS"}


def columns(model: type[RawRecord]) -> list[str]:
    """The CSV header / store columns of a record kind, in contract order."""
    return list(model.model_fields)


def _annotation(model: type[RawRecord], name: str) -> type:
    """A field's type (every contract field is annotated with a plain type)."""
    annotation = model.model_fields[name].annotation
    if not isinstance(annotation, type):
        raise TypeError(f"{model.__name__}.{name}: annotate it with a plain type")
    return annotation


def polars_schema(model: type[RawRecord]) -> dict[str, pl.DataType]:
    """Polars dtypes of a record kind, derived from its annotations."""
    return {name: _POLARS_DTYPES[_annotation(model, name)] for name in model.model_fields}


@dataclass(frozen=True)
class RowRule:
    """A check on one row: `broken` is True where the row breaks the rule `message`."""

    message: str
    broken: pl.Expr


def _parse(name: str, annotation: type) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    if annotation is dt.datetime:
        return text.str.strptime(pl.Datetime("us"), TIMESTAMP_FORMAT, strict=False)
    return text.cast(_POLARS_DTYPES[annotation], strict=False)


_BOUNDS = {  # annotated-types bound -> (its attribute, operator word, "is broken when" test)
    at.Gt: ("gt", ">", pl.Expr.__le__),
    at.Ge: ("ge", ">=", pl.Expr.__lt__),
    at.Lt: ("lt", "<", pl.Expr.__ge__),
    at.Le: ("le", "<=", pl.Expr.__gt__),
}


def _bound_rules(name: str, field: FieldInfo) -> list[RowRule]:
    rules = []
    for meta in field.metadata:
        if type(meta) in _BOUNDS:
            attr, word, broken_when = _BOUNDS[type(meta)]
            bound = getattr(meta, attr)
            rules.append(
                RowRule(f"{name} must be {word} {bound}", broken_when(pl.col(name), bound))
            )
    return rules


def parse_rules(model: type[RawRecord]) -> list[RowRule]:
    """Rules on the raw text of each column: present, and of the right type."""
    rules = []
    for name in model.model_fields:
        raw, kind = pl.col(name), _annotation(model, name)
        missing = raw.is_null() | (raw.str.strip_chars() == "")
        rules.append(RowRule(f"{name} is required", missing))
        bad_type = ~missing & _parse(name, kind).is_null()
        rules.append(RowRule(f"{name} must be {_TYPE_WORDS[kind]}", bad_type))
    return rules


def value_rules(model: type[RawRecord]) -> list[RowRule]:
    """Rules on parsed values: finiteness and the bounds declared on each field."""
    rules = []
    for name, field in model.model_fields.items():
        if field.annotation is float:
            rules.append(RowRule(f"{name} must be finite", ~pl.col(name).is_finite()))
        rules.extend(_bound_rules(name, field))
    return rules


def parse_exprs(model: type[RawRecord]) -> list[pl.Expr]:
    """Expressions turning the raw text columns into typed columns (null where unparseable)."""
    return [_parse(name, _annotation(model, name)).alias(name) for name in model.model_fields]


# Rules that need more than one row; ingest applies them with joins.
UNIQUE_VEHICLE_RULE = f"{ENTITY} must be unique within a file"
UNKNOWN_VEHICLE_RULE = f"{ENTITY} must exist in {VEHICLES}"
