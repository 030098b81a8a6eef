"""The prediction log's encoding: a logged prediction comes back with its range, and entries
logged before predictions had ranges still decode (with null bounds), and the shadow's answer
travels beside the champion's when there is one; entries of many rows decode beside entries
of one."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import polars as pl

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import (
    ENTRY_ROWS,
    FIELD,
    LOG_SCHEMA,
    LOWER,
    PREDICTION,
    ROWS_FIELD,
    SHADOW_LOWER,
    SHADOW_PREDICTION,
    SHADOW_UPPER,
    SHADOW_VERSION,
    UPPER,
    LoggedPrediction,
    decode,
    encode,
    encode_rows,
)
from features.contract.schema import ENTITY

FEATURES = [float(i) for i in range(len(FEATURE_NAMES))]


def _logged(lower: int, upper: int) -> LoggedPrediction:
    return LoggedPrediction(
        "r1", 2, 1_764_000_000.25, "/predict_by_id", "4", 17, FEATURES, 3.5, lower, upper
    )


def test_an_entry_decodes_to_the_prediction_and_range_it_encoded() -> None:
    (row,) = decode([(b"5-0", {FIELD: encode(_logged(1, 7))})]).rows(named=True)
    assert (row[PREDICTION], row[LOWER], row[UPPER]) == (3.5, 1, 7)
    assert (row["request_id"], row["item"], row[ENTITY], row["model_version"]) == ("r1", 2, 17, "4")
    assert row["predicted_at"] == dt.datetime(2025, 11, 24, 16, 0, 0, 250000)
    assert [row[name] for name in FEATURE_NAMES] == FEATURES


def test_an_entry_logged_before_ranges_existed_decodes_with_null_bounds() -> None:
    new = json.loads(encode(_logged(0, 2)))
    old = json.dumps(new[:-2]).encode()  # what a worker of the previous release appended
    frame = decode([(b"5-0", {FIELD: old}), (b"5-1", {FIELD: encode(_logged(0, 2))})])
    assert frame.schema == pl.Schema(LOG_SCHEMA)
    assert frame.select(LOWER, UPPER).rows() == [(None, None), (0, 2)]
    assert frame[PREDICTION].to_list() == [3.5, 3.5]


def test_the_bounds_are_whole_number_columns_of_the_log() -> None:
    assert LOG_SCHEMA[LOWER] == pl.Int64() and LOG_SCHEMA[UPPER] == pl.Int64()
    names = list(LOG_SCHEMA)
    at = names.index(PREDICTION)
    assert names[at : at + 3] == [PREDICTION, LOWER, UPPER]
    assert LOG_SCHEMA[SHADOW_LOWER] == pl.Int64() and LOG_SCHEMA[SHADOW_UPPER] == pl.Int64()


def test_an_entry_with_the_shadows_answer_decodes_both_answers() -> None:
    shadowed = replace(
        _logged(1, 7),
        shadow_version="5",
        shadow_prediction=4.25,
        shadow_lower=2,
        shadow_upper=9,
    )
    frame = decode([(b"5-0", {FIELD: encode(shadowed)}), (b"5-1", {FIELD: encode(_logged(1, 7))})])
    assert frame.schema == pl.Schema(LOG_SCHEMA)
    columns = (
        PREDICTION,
        LOWER,
        UPPER,
        SHADOW_VERSION,
        SHADOW_PREDICTION,
        SHADOW_LOWER,
        SHADOW_UPPER,
    )
    assert frame.select(columns).rows() == [
        (3.5, 1, 7, "5", 4.25, 2, 9),
        (3.5, 1, 7, None, None, None, None),  # no shadow loaded: the entry ends at the range
    ]


def test_a_batch_entry_decodes_to_its_rows_in_order_beside_one_row_entries() -> None:
    rows = [replace(_logged(0, 2), request_id=f"r{i}", item=i) for i in range(ENTRY_ROWS + 2)]
    entries = encode_rows(rows)
    assert [count for count, _ in entries] == [ENTRY_ROWS, 2]  # split at ENTRY_ROWS
    stream = [(b"5-0", {FIELD: encode(_logged(1, 7))})] + [
        (f"6-{n}".encode(), {ROWS_FIELD: payload}) for n, (_, payload) in enumerate(entries)
    ]
    frame = decode(stream)
    assert frame.schema == pl.Schema(LOG_SCHEMA)
    assert frame["request_id"].to_list() == ["r1"] + [f"r{i}" for i in range(ENTRY_ROWS + 2)]
    assert frame["stream_id"].value_counts(sort=True).rows() == [
        ("6-0", ENTRY_ROWS),
        ("6-1", 2),
        ("5-0", 1),
    ]
