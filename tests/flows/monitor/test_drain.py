"""The prediction-log drain: Redis stream → Parquet, chunk by chunk, with nothing lost or stored
twice when a drain dies midway."""

from __future__ import annotations

import polars as pl
import pytest
import redis
from support.logs import logged

from features.contract.formulas import FEATURE_NAMES
from features.contract.prediction_log import (
    FIELD,
    REQUEST_ID,
    UPPER,
    encode,
)
from features.settings import Settings
from features.stores.online import OnlineKeys
from features.stores.prediction_stream import APPEND_SCRIPT, append_args
from features.stores.predictions import scan_predictions
from flows.monitor import drain as predictions
from flows.monitor.drain import drain_predictions_flow

pytestmark = pytest.mark.integration


def _log(settings: Settings, first: int, count: int) -> None:
    """Append `count` predictions (request ids r<first>...) one entry each, as the workers of
    earlier releases did."""
    client = redis.Redis.from_url(settings.redis_url or "")
    key = OnlineKeys(settings.redis_key_prefix).prediction_log
    for entry in logged(first, count):
        client.xadd(key, {FIELD: encode(entry)})


def _flush(settings: Settings, first: int, count: int) -> None:
    """Append `count` predictions as one worker flush does: entries of many rows."""
    client = redis.Redis.from_url(settings.redis_url or "")
    args = append_args(settings.prediction_log_max_stream, logged(first, count))
    client.register_script(APPEND_SCRIPT)(
        keys=[OnlineKeys(settings.redis_key_prefix).prediction_log], args=args
    )


def _stream_length(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis_url or "")
    return int(client.xlen(OnlineKeys(settings.redis_key_prefix).prediction_log))


def test_a_drain_moves_everything_in_chunks_and_empties_the_stream(
    flow_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictions, "CHUNK", 40)
    _log(flow_settings, 0, 100)
    result = drain_predictions_flow()
    assert (result.entries, len(result.files)) == (100, 3)  # 40 + 40 + 20
    stored = scan_predictions(flow_settings).collect().sort("predicted_at")
    assert stored[REQUEST_ID].to_list() == [f"r{i}" for i in range(100)]
    assert stored["prediction"].to_list() == [i / 10 for i in range(100)]
    assert stored[UPPER].to_list() == list(range(100))  # each range stored with its prediction
    assert _stream_length(flow_settings) == 0
    assert drain_predictions_flow().entries == 0  # nothing new: nothing written


def test_a_drain_that_died_before_its_checkpoint_is_redone_without_duplicates(
    flow_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    _log(flow_settings, 0, 10)
    drain_predictions_flow()
    _log(flow_settings, 10, 10)
    checkpoint = flow_settings.predictions_dir / "drained.json"
    saved = checkpoint.read_text()

    def die_after_writing(settings: Settings, last_id: str) -> int:
        checkpoint.write_text(saved)  # as if the process died between file and checkpoint
        raise RuntimeError("killed")

    trim = predictions.trim_stored.fn
    monkeypatch.setattr(predictions.trim_stored, "fn", die_after_writing)
    with pytest.raises(RuntimeError, match="killed"):
        drain_predictions_flow()
    assert scan_predictions(flow_settings).collect().height == 20  # stored, not checkpointed
    monkeypatch.setattr(predictions.trim_stored, "fn", trim)
    assert drain_predictions_flow().entries == 10  # the redo: the same chunk, the same file
    stored = scan_predictions(flow_settings).collect()
    assert stored.height == 20 and stored[REQUEST_ID].n_unique() == 20
    assert _stream_length(flow_settings) == 0


def test_a_drain_stores_entries_of_many_rows_whole_beside_one_row_entries(
    flow_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(predictions, "CHUNK", 40)
    _log(flow_settings, 0, 3)  # an earlier release's entries, still in the stream
    _flush(flow_settings, 3, 100)  # one entry of 100 rows: never split across files
    _flush(flow_settings, 103, 10)
    result = drain_predictions_flow()
    assert (result.entries, len(result.files)) == (113, 2)  # 3 + 100 (40 rows reached), 10
    stored = scan_predictions(flow_settings).collect().sort("predicted_at")
    assert stored[REQUEST_ID].to_list() == [f"r{i}" for i in range(113)]
    assert _stream_length(flow_settings) == 0


def test_before_the_first_drain_the_log_is_empty_with_its_schema(settings: Settings) -> None:
    stored = scan_predictions(settings).collect()
    assert stored.height == 0 and stored.schema == pl.Schema(stored.schema)
    assert set(FEATURE_NAMES) <= set(stored.columns)
