"""The prediction log's contract: what each served prediction records, how a stream entry
encodes it, and the schema of the Parquet files it is drained to.

Service workers buffer predictions (`service/prediction_buffer.py`) and append them to the Redis
stream `OnlineKeys.prediction_log` in one call per flush, never a write per request: each stream
entry holds up to `ENTRY_ROWS` rows (`ROWS_FIELD`, a JSON array of rows), with its row count and
the count of rows logged through it, which is how the stream is capped in rows
(`features/stores/predictions.py`). Entries of one row (`FIELD`), as earlier releases wrote them,
still decode. The `predictions` flow drains the stream; all rows of an entry share its
`STREAM_ID`.

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
from typing import Any

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
FIELD = b"p"  # an entry of one row, as earlier releases wrote it: the JSON-encoded row
ROWS_FIELD = b"r"  # an entry of many rows: a JSON array of encoded rows
COUNT_FIELD = b"n"  # rows in an entry
THROUGH_FIELD = b"c"  # rows logged through an entry, counted since the stream was empty
ENTRY_ROWS = 500  # most rows in one entry: bounds what the drain holds per entry read

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


def _row(entry: LoggedPrediction) -> list[object]:
    return [
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
    ]


def encode(entry: LoggedPrediction) -> bytes:
    """The one-row stream value (`FIELD`) of earlier releases (decoded by `decode`)."""
    return json.dumps(_row(entry), separators=(",", ":")).encode()


def encode_rows(entries: Sequence[LoggedPrediction]) -> list[tuple[int, bytes]]:
    """`entries` as stream entries of up to `ENTRY_ROWS` rows: each its row count and its
    `ROWS_FIELD` value (a compact JSON array of rows, decoded by `decode`)."""
    chunks = [entries[at : at + ENTRY_ROWS] for at in range(0, len(entries), ENTRY_ROWS)]
    return [
        (len(chunk), json.dumps([_row(e) for e in chunk], separators=(",", ":")).encode())
        for chunk in chunks
    ]


# A stream entry as redis-py returns it: (id, {field: value}).
StreamEntry = tuple[bytes | str | None, Mapping[bytes | str, bytes | str] | None]


def _rows_of(fields: Mapping[bytes | str, bytes | str]) -> list[list[Any]]:
    batch = fields.get(ROWS_FIELD)
    if batch is not None:
        return list(json.loads(batch))
    return [json.loads(fields[FIELD])]


def _log_row(stream_id: str, encoded: list[Any]) -> tuple[object, ...]:
    request_id, item, micros, route, version, vehicle_id, features, prediction, *rest = encoded
    # Older rows end earlier: no range (before ranges), no shadow (none loaded).
    lower, upper, *shadow = rest + [None] * (6 - len(rest))
    at = _EPOCH + dt.timedelta(microseconds=micros)
    return (
        stream_id,
        request_id,
        item,
        at,
        route,
        version,
        vehicle_id,
        *features,
        prediction,
        lower,
        upper,
        *shadow,
    )


def decode(entries: Sequence[StreamEntry] | None) -> pl.DataFrame:
    """Stream entries (id, fields), of one row or many, as log rows in `LOG_SCHEMA`."""
    rows: list[tuple[object, ...]] = []
    for stream_id, fields in entries or []:
        if stream_id is None or fields is None:
            continue  # an entry trimmed while being read
        rows.extend(_log_row(_text(stream_id), encoded) for encoded in _rows_of(fields))
    return pl.DataFrame(rows, schema=LOG_SCHEMA, orient="row")


_EPOCH = dt.datetime(1970, 1, 1)


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
