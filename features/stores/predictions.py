"""The prediction log's stores: the Redis stream the service appends to, and the Parquet files
the drain keeps under `FLEETCAST_HOME/predictions/`.

Workers append with `features.stores.prediction_stream.APPEND_SCRIPT` (the stream's Redis
side, which the Bento ships; this module's Parquet side stays with the flows).

A drain reads a chunk right after the last stored entry, writes it whole to
`<first-entry-id>.parquet` (atomic rename), moves the checkpoint, and only then trims the
stream: a drain that died midway is redone into the same file name, so no entry is stored twice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import polars as pl
import redis

from features.contract.prediction_log import (
    CHECKPOINT_FILE,
    LOG_SCHEMA,
    STREAM_ID,
    StreamEntry,
    decode,
)
from features.settings import Settings
from features.stores.atomic import atomic_path, exclusive_lock, write_text_atomic
from features.stores.online import OnlineKeys

START = "0-0"  # the stream id before any entry
PAGE_ENTRIES = 100  # entries per XRANGE while reading a chunk


def scan_predictions(settings: Settings) -> pl.LazyFrame:
    """Every drained prediction (empty, with the schema, before the first drain). Files
    drained before a column was added (the interval bounds) read with it null."""
    files = sorted(settings.predictions_dir.glob("*.parquet"))
    if not files:
        return pl.DataFrame(schema=LOG_SCHEMA).lazy()
    return pl.scan_parquet(files, schema=LOG_SCHEMA, missing_columns="insert")


def last_drained(settings: Settings) -> str:
    """Id of the last stored stream entry (START before the first drain)."""
    path = settings.predictions_dir / CHECKPOINT_FILE
    return str(json.loads(path.read_text())["last_id"]) if path.exists() else START


def read_after(client: redis.Redis, settings: Settings, after: str, rows: int) -> pl.DataFrame:
    """The logged rows following stream id `after`, in whole entries, up to the entry that
    brings them to `rows` (fewer only at the stream's end), decoded."""
    key = OnlineKeys(settings.redis_key_prefix).prediction_log
    page = max(1, min(rows, PAGE_ENTRIES))
    frames: list[pl.DataFrame] = []
    held = 0
    while held < rows:
        entries: Sequence[StreamEntry] | None = client.xrange(
            key, stream_id_after(after), count=page
        )
        ids = [entry_id for entry_id, _ in entries or [] if entry_id is not None]
        if not ids:
            break
        frames.append(decode(entries))
        held += frames[-1].height
        after = _text(ids[-1])
    return _first_entries(pl.concat(frames), rows) if frames else decode([])


def _first_entries(chunk: pl.DataFrame, rows: int) -> pl.DataFrame:
    """The first whole entries of `chunk` that hold at least `rows` rows (all if fewer)."""
    if chunk.is_empty():
        return chunk
    sizes = chunk.group_by(STREAM_ID, maintain_order=True).len()["len"].cum_sum()
    enough = int((sizes < rows).sum()) + 1  # entries up to the one that reaches `rows`
    return chunk.head(int(sizes[min(enough, sizes.len()) - 1]))


def store(settings: Settings, chunk: pl.DataFrame) -> str:
    """Write `chunk` as one Parquet file named by its first entry, then move the checkpoint."""
    first, last = chunk[STREAM_ID][0], chunk[STREAM_ID][-1]
    target = settings.predictions_dir / f"{first}.parquet"
    with atomic_path(target) as tmp:
        chunk.write_parquet(tmp)
    write_text_atomic(settings.predictions_dir / CHECKPOINT_FILE, json.dumps({"last_id": last}))
    return target.name


def trim_through(client: redis.Redis, settings: Settings, last_id: str) -> int:
    """Remove the stream's entries up to and including `last_id`; how many went."""
    key = OnlineKeys(settings.redis_key_prefix).prediction_log
    return int(client.xtrim(key, minid=stream_id_after(last_id), approximate=False))


@contextmanager
def one_drain_at_a_time(settings: Settings) -> Iterator[None]:
    """Hold the drain's file lock for the block."""
    with exclusive_lock(settings.predictions_dir / "drain.lock"):
        yield


def stream_id_after(stream_id: str) -> str:
    """The smallest stream id greater than `stream_id` (`ms-seq` → `ms-(seq+1)`)."""
    millis, seq = stream_id.split("-")
    return f"{millis}-{int(seq) + 1}"


def _text(value: bytes | str | None) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
