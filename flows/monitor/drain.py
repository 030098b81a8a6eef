"""Prediction-log drain flow: the Redis stream the service appends to → Parquet files.

Each chunk is read right after the last stored entry, written whole to
`predictions/<first-entry-id>.parquet` (atomic rename), checkpointed, and only then trimmed from
the stream. A run that dies midway is redone by the next into the same file names, so nothing is
lost or stored twice. One drain at a time (a file lock).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import polars as pl
from prefect import flow, get_run_logger

from features.contract.prediction_log import CHECKPOINT_FILE, STREAM_ID, decode, stream_id_after
from features.local.redis_server import redis_client
from features.settings import Settings, get_settings
from features.stores.atomic import atomic_path, exclusive_lock, write_text_atomic
from features.stores.online import OnlineKeys
from flows.tasks import network_step, step

CHUNK = 100_000  # entries per Parquet file (bounded memory per step)


@dataclass(frozen=True)
class DrainResult:
    """What one drain stored."""

    entries: int
    files: list[str]
    last_id: str | None


def last_drained(settings: Settings) -> str:
    """Id of the last stored stream entry ("0-0" before the first drain)."""
    path = settings.predictions_dir / CHECKPOINT_FILE
    return json.loads(path.read_text())["last_id"] if path.exists() else "0-0"


@network_step
def read_chunk(settings: Settings, after: str) -> pl.DataFrame:
    """Up to CHUNK log entries following `after`, decoded."""
    with redis_client(settings) as client:
        key = OnlineKeys(settings.redis_key_prefix).prediction_log
        entries = client.xrange(key, min=stream_id_after(after), max="+", count=CHUNK)
    return decode(entries)


@step
def store_chunk(settings: Settings, chunk: pl.DataFrame) -> str:
    """Write the chunk as one Parquet file named by its first entry, then move the checkpoint."""
    first, last = chunk[STREAM_ID][0], chunk[STREAM_ID][-1]
    target = settings.predictions_dir / f"{first}.parquet"
    with atomic_path(target) as tmp:
        chunk.write_parquet(tmp)
    write_text_atomic(settings.predictions_dir / CHECKPOINT_FILE, json.dumps({"last_id": last}))
    return target.name


@network_step
def trim_stored(settings: Settings, last_id: str) -> int:
    """Remove the stored entries from the stream; how many went."""
    with redis_client(settings) as client:
        key = OnlineKeys(settings.redis_key_prefix).prediction_log
        return int(client.xtrim(key, minid=stream_id_after(last_id), approximate=False))


@contextmanager
def _one_drain_at_a_time(settings: Settings) -> Iterator[None]:
    with exclusive_lock(settings.predictions_dir / "drain.lock"):
        yield


@flow(name="predictions")
def drain_predictions_flow() -> DrainResult:
    """Move every prediction logged so far from Redis to `FLEETCAST_HOME/predictions/`."""
    settings = get_settings()
    files: list[str] = []
    entries = 0
    with _one_drain_at_a_time(settings):
        while not (chunk := read_chunk(settings, last_drained(settings))).is_empty():
            files.append(store_chunk(settings, chunk))
            entries += chunk.height
            trim_stored(settings, chunk[STREAM_ID][-1])
        last = last_drained(settings)
    get_run_logger().info("stored %d logged predictions in %d files", entries, len(files))
    return DrainResult(entries=entries, files=files, last_id=None if last == "0-0" else last)
