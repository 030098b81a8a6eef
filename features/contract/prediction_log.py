"""The prediction log's contract: what each served prediction records, how a stream entry
encodes it, and the schema of the Parquet files it is drained to.

Service workers buffer predictions (`service/prediction_buffer.py`) and append them to the Redis
stream `OnlineKeys.prediction_log` in one pipelined call per flush, never a write per request;
the `predictions` flow drains the stream (`features/stores/predictions.py`).

Each prediction carries its calibrated range (`features.contract.intervals`) as `LOWER` and
`UPPER`. Logs written before the ranges existed have no such values: stream entries decode and
drained files read with null bounds.

When a shadow (the `challenger` alias) is loaded, each prediction also carries the shadow's
answer to the same features: its version, prediction and range (`SHADOW_*`), scored by the
worker when it flushes its buffer, never while the request waits. Null without a shadow, or
when the shadow failed on that batch.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from features.contract.formulas import FEATURE_NAMES
from features.contract.schema import ENTITY

REQUEST_ID = "request_id"
ITEM = "item"  # position in a batch request; 0 for single predictions
PREDICTED_AT = "predicted_at"
ROUTE = "route"
MODEL_VERSION = "model_version"
PREDICTION = "prediction"
LOWER = "lower"  # the prediction's interval, whole reservations (null in older logs)
UPPER = "upper"
SHADOW_VERSION = "shadow_version"  # the shadow that scored the same features (null: none)
SHADOW_PREDICTION = "shadow_prediction"
SHADOW_LOWER = "shadow_lower"
SHADOW_UPPER = "shadow_upper"
STREAM_ID = "stream_id"
FIELD = b"p"  # the one field of a stream entry: the JSON-encoded row

LOG_SCHEMA: dict[str, pl.DataType] = {
    STREAM_ID: pl.String(),
    REQUEST_ID: pl.String(),
    ITEM: pl.Int32(),
    PREDICTED_AT: pl.Datetime("us"),  # naive UTC, like every fleetcast timestamp
    ROUTE: pl.String(),
    MODEL_VERSION: pl.String(),
    ENTITY: pl.Int64(),  # null when the request carried attributes, not an id
    **{name: pl.Float64() for name in FEATURE_NAMES},
    PREDICTION: pl.Float64(),
    LOWER: pl.Int64(),
    UPPER: pl.Int64(),
    SHADOW_VERSION: pl.String(),
    SHADOW_PREDICTION: pl.Float64(),
    SHADOW_LOWER: pl.Int64(),
    SHADOW_UPPER: pl.Int64(),
}
CHECKPOINT_FILE = "drained.json"


@dataclass(frozen=True, slots=True)
class LoggedPrediction:
    """One served prediction, as a worker hands it to the log."""

    request_id: str
    item: int
    predicted_at: float  # Unix seconds
    route: str
    model_version: str
    vehicle_id: int | None
    features: Sequence[float]  # FEATURE_NAMES order
    prediction: float
    lower: int
    upper: int
    shadow_version: str | None = None
    shadow_prediction: float | None = None
    shadow_lower: int | None = None
    shadow_upper: int | None = None


def _shadow(entry: LoggedPrediction) -> list[object]:
    if entry.shadow_version is None or entry.shadow_prediction is None:
        return []
    return [
        entry.shadow_version,
        float(entry.shadow_prediction),
        None if entry.shadow_lower is None else int(entry.shadow_lower),
        None if entry.shadow_upper is None else int(entry.shadow_upper),
    ]


def encode(entry: LoggedPrediction) -> bytes:
    """The stream value of one prediction (compact JSON; decoded by `decode`)."""
    return json.dumps(
        [
            entry.request_id,
            entry.item,
            round(entry.predicted_at * 1e6),
            entry.route,
            entry.model_version,
            entry.vehicle_id,
            [float(x) for x in entry.features],
            float(entry.prediction),
            int(entry.lower),
            int(entry.upper),
            *_shadow(entry),
        ],
        separators=(",", ":"),
    ).encode()


# A stream entry as redis-py returns it: (id, {field: value}).
StreamEntry = tuple[bytes | str | None, Mapping[bytes | str, bytes | str] | None]


def decode(entries: Sequence[StreamEntry] | None) -> pl.DataFrame:
    """Stream entries (id, fields) as log rows in `LOG_SCHEMA`."""
    rows = []
    for stream_id, fields in entries or []:
        if stream_id is None or fields is None:
            continue  # an entry trimmed while being read
        request_id, item, micros, route, version, vehicle_id, features, prediction, *rest = (
            json.loads(fields[FIELD])
        )
        # Older entries end earlier: no range (before ranges), no shadow (none loaded).
        lower, upper, *shadow = rest + [None] * (6 - len(rest))
        rows.append(
            (
                _text(stream_id),
                request_id,
                item,
                _EPOCH + dt.timedelta(microseconds=micros),
                route,
                version,
                vehicle_id,
                *features,
                prediction,
                lower,
                upper,
                *shadow,
            )
        )
    return pl.DataFrame(rows, schema=LOG_SCHEMA, orient="row")


_EPOCH = dt.datetime(1970, 1, 1)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
