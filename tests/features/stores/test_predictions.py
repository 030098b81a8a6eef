"""The drained prediction log: files from before predictions had ranges read beside new ones,
with null bounds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from support.drift import log_rows, write_log

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import LOG_SCHEMA, LOWER, PREDICTION, UPPER
from features.settings import Settings
from features.stores.predictions import scan_predictions

T = dt.datetime(2026, 11, 20, 12, 0)


def test_files_drained_before_ranges_existed_read_with_null_bounds(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    features = pl.DataFrame({name: [1.0, 2.0] for name in FEATURE_NAMES})
    old = log_rows(features, T, [1.5, 2.5], "1").drop(LOWER, UPPER)
    new = log_rows(features, T, [3.5, 4.5], "2", bounds=([1, 2], [6, 8]))
    write_log(settings, old, name="1-0")  # as a drain of the previous release wrote it
    write_log(settings, new, name="2-0")
    stored = scan_predictions(settings).collect().sort(PREDICTION)
    assert stored.schema == pl.Schema(LOG_SCHEMA)
    assert stored.select(PREDICTION, LOWER, UPPER).rows() == [
        (1.5, None, None),
        (2.5, None, None),
        (3.5, 1, 6),
        (4.5, 2, 8),
    ]
    only_old = scan_predictions(settings).filter(pl.col(LOWER).is_null()).collect()
    assert only_old[PREDICTION].to_list() == [1.5, 2.5]
