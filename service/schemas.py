"""The service's request and response bodies: one module, derived from the data contract.

A listing's attributes are `VehicleRecord`'s fields without the id, with the same types,
bounds and descriptions, so the API and ingest can never disagree about a valid listing.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

import annotated_types as at
from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from features.contract.schema import ENTITY, EXAMPLE_VEHICLE, VehicleRecord

_STRICT = ConfigDict(extra="forbid", allow_inf_nan=False)
INT64_MAX = 2**63 - 1  # the contract's integers are stored as Int64 (features.contract.schema)


def _bounded(field: FieldInfo) -> tuple[Any, FieldInfo]:
    """A contract field as the API takes it: an integer at most Int64's maximum, its stored
    type, so a larger one is a 400 naming it rather than an overflow (500) further on."""
    if field.annotation is not int or any(isinstance(m, at.Le | at.Lt) for m in field.metadata):
        return field.annotation, field
    bounded = copy.copy(field)
    bounded.metadata = [*field.metadata, at.Le(INT64_MAX)]
    return int, bounded


def _from_contract(name: str, doc: str, with_id: bool) -> type[BaseModel]:
    fields = VehicleRecord.model_fields.items()
    example = EXAMPLE_VEHICLE.model_dump(exclude=None if with_id else {ENTITY})
    return create_model(  # type: ignore[call-overload]
        name,
        # The API docs' example (Swagger's "Try it out" body) is the contract's example listing;
        # `example`, not JSON Schema's `examples`: the published OpenAPI is 3.0.
        __config__=ConfigDict(**_STRICT, json_schema_extra={"example": example}),
        __doc__=doc,
        **{k: _bounded(field) for k, field in fields if with_id or k != ENTITY},
    )


Listing = _from_contract(
    "Listing", "A listing's raw attributes, as in vehicles.csv without the id.", with_id=False
)
Vehicle = _from_contract("Vehicle", "A listing to register: a vehicles.csv row.", with_id=True)


_ID_RULES: dict[str, Any] = {"gt": 0, "le": INT64_MAX, "description": "Listing id."}


class VehicleRef(BaseModel):
    """A vehicle known to the online feature store."""

    model_config = _STRICT
    vehicle_id: int = Field(**_ID_RULES, json_schema_extra={"example": EXAMPLE_VEHICLE.vehicle_id})


# The same id as a path parameter (GET /vehicles/{vehicle_id}), by the same rules.
VehicleId = Annotated[
    int, Path(**_ID_RULES, json_schema_extra={"example": EXAMPLE_VEHICLE.vehicle_id})
]


class Batch(BaseModel):
    """Several listings scored in one call (at most FLEETCAST_MAX_BATCH)."""

    model_config = _STRICT
    listings: list[Listing] = Field(min_length=1)  # type: ignore[valid-type]


class Interval(BaseModel):
    """The calibrated range around one forecast: the reservations it will most likely be."""

    lower: int = Field(
        ge=0, description="Fewest reservations in the range: a whole, non-negative number."
    )
    upper: int = Field(
        ge=0, description="Most reservations in the range: a whole number, at least `lower`."
    )
    level: float = Field(
        gt=0,
        lt=1,
        description="The share of outcomes the range is calibrated to contain (0.8: 80%), "
        "measured at training on out-of-fold forecasts.",
    )


class InputWarning(BaseModel):
    """An input outside what the served version was trained on: answered all the same."""

    field: str = Field(
        description="The feature: a listing attribute, or price_diff / price_ratio (derived "
        "from actual_price and recommended_price)."
    )
    value: float
    low: float = Field(description="The smallest value among the version's training rows.")
    high: float = Field(description="The largest.")
    message: str


class BatchInputWarning(InputWarning):
    """An input warning of one listing of a batch."""

    listing: int = Field(ge=0, description="The listing's index in the request.")


_WARNINGS = "Inputs outside the served version's training range (empty: none)."


class Prediction(BaseModel):
    """Forecast reservations for one listing, its range, and the model version that made both."""

    predicted_reservations: float = Field(ge=0)
    interval: Interval
    model_version: str
    warnings: list[InputWarning] = Field(default_factory=list, description=_WARNINGS)


class BatchPrediction(BaseModel):
    """Forecasts and their ranges in the order of the request's listings."""

    predicted_reservations: list[float]
    intervals: list[Interval]
    model_version: str
    warnings: list[BatchInputWarning] = Field(default_factory=list, description=_WARNINGS)


class Registered(Prediction):
    """A listing registered through the API: online at once, ingested at the next run."""

    vehicle_id: int


class FieldError(BaseModel):
    """One broken rule of a 400: the field's path in the body (`loc`) and the rule (`msg`)."""

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Every error the service returns: what went wrong, naming the field where there is one."""

    error: str
    detail: list[FieldError] | None = None  # invalid bodies (400): every field and rule broken


class VehicleFeatures(BaseModel):
    """The lookup's answer: the snapshot read, and each id's features (null if unknown)."""

    snapshot_id: str | None
    features: list[list[float] | None]


class StoredVehicle(BaseModel):
    """Which online snapshot a registered vehicle was written into (null: none materialized)."""

    snapshot_id: str | None


class OnlineVehicle(BaseModel):
    """A vehicle's features as the online store holds them (what /predict_by_id scores)."""

    vehicle_id: int
    snapshot_id: str | None
    features: dict[str, float]
