"""Prediction-log drain flow: the Redis stream the service appends to → Parquet files.

Chunk by chunk: read after the last stored entry, store, checkpoint, trim (the store's rules
are in `features/stores/predictions.py`: nothing lost or stored twice). One drain at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
from prefect import flow, get_run_logger

from features.contract.prediction_log import STREAM_ID
from features.local.redis_server import redis_client
from features.settings import Settings, get_settings
from features.stores import predictions
from flows.tasks import network_step, run_name, step

CHUNK = 100_000  # rows per Parquet file, in whole entries (bounded memory per step)


@dataclass(frozen=True)
class DrainResult:
    """What one drain stored."""

    entries: int
    files: list[str]
    last_id: str | None


@network_step
def read_chunk(settings: Settings, after: str) -> pl.DataFrame:
    """About CHUNK logged rows following `after` (whole entries), decoded."""
    with redis_client(settings) as client:
        return predictions.read_after(client, settings, after, CHUNK)


@step
def store_chunk(settings: Settings, chunk: pl.DataFrame) -> str:
    """Write the chunk as one Parquet file named by its first entry, then move the checkpoint."""
    return predictions.store(settings, chunk)


@network_step
def trim_stored(settings: Settings, last_id: str) -> int:
    """Remove the stored entries from the stream; how many went."""
    with redis_client(settings) as client:
        return predictions.trim_through(client, settings, last_id)


@flow(name="predictions", flow_run_name=run_name("predictions"))
def drain_predictions_flow() -> DrainResult:
    """Move every prediction logged so far from Redis to `FLEETCAST_HOME/predictions/`."""
    settings = get_settings()
    files: list[str] = []
    entries = 0
    with predictions.one_drain_at_a_time(settings):
        while not (chunk := read_chunk(settings, predictions.last_drained(settings))).is_empty():
            files.append(store_chunk(settings, chunk))
            entries += chunk.height
            trim_stored(settings, chunk[STREAM_ID][-1])
        last = predictions.last_drained(settings)
    get_run_logger().info("stored %d logged predictions in %d files", entries, len(files))
    return DrainResult(
        entries=entries, files=files, last_id=None if last == predictions.START else last
    )
