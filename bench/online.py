"""Step 4: materialize the feature table into an embedded Redis, vs a redis-py pipeline.

Both writers store the same `encoded_features()` values for every vehicle. The flow's
writer (`features.stores.online.materialize`) renders RESP for whole batches in Polars;
the baseline is the obvious client code: one HSET per vehicle in a non-transactional
redis-py pipeline,
executed every 10k commands. Each writer runs in its own child with its own embedded Redis,
and the child checks that every vehicle landed with the right value before reporting.

Run as a child: `python -m bench.online {materialize|pipeline} HOME TABLE.parquet AS_OF`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import redis

from bench.children import emit, peak_rss_mb, run_child
from features.contract.schema import ENTITY
from features.local.redis_server import start_embedded, stop_embedded
from features.settings import Settings
from features.stores.online import OnlineKeys, encode_rows, encoded_features, materialize

BASELINE_EVERY = 10_000
KEYS = OnlineKeys("bench")
SNAPSHOT_ID = "bench-1"
BASELINE_KEY = "bench:baseline:pipeline"
SAMPLE = 2_000


def write_materialize(client: redis.Redis, features: pl.DataFrame, as_of: str) -> str:
    """The flow's writer, with the brief's batch size and retention."""
    materialize(client, KEYS, SNAPSHOT_ID, features, batch_size=50_000, keep=2, as_of=as_of)
    return KEYS.snapshot(SNAPSHOT_ID)


def write_pipeline(client: redis.Redis, features: pl.DataFrame, as_of: str) -> str:
    """One HSET per vehicle through a redis-py pipeline (the baseline)."""
    encoded = features.select(ENTITY, encoded_features())
    with client.pipeline(transaction=False) as pipe:
        for count, (vehicle_id, value) in enumerate(encoded.iter_rows(), start=1):
            pipe.hset(BASELINE_KEY, vehicle_id, value)
            if count % BASELINE_EVERY == 0:
                pipe.execute()
        pipe.execute()
    return BASELINE_KEY


WRITERS: dict[str, Callable[[redis.Redis, pl.DataFrame, str], str]] = {
    "materialize": write_materialize,
    "pipeline": write_pipeline,
}


def verify(client: redis.Redis, key: str, features: pl.DataFrame) -> None:
    """Every vehicle is there, and a sample of values equals the contract's encoding."""
    stored = client.hlen(key)
    if stored != features.height:
        raise AssertionError(f"{key} holds {stored} vehicles, expected {features.height}")
    sample = features.sample(min(SAMPLE, features.height), seed=0)
    expected = encode_rows(sample)
    got = client.hmget(key, list(expected))
    if [g.decode() for g in got] != list(expected.values()):
        raise AssertionError(f"{key}: stored values differ from encode_rows()")


def child(writer: str, home: str, table_path: str, as_of: str) -> None:
    """Child entry point: time one writer against a fresh embedded Redis."""
    settings = Settings(home=Path(home))
    features = pl.read_parquet(table_path)
    url, process = start_embedded(settings)
    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
        started = time.perf_counter()
        key = WRITERS[writer](client, features, as_of)
        seconds = time.perf_counter() - started
        rss = peak_rss_mb()
        verify(client, key, features)
        server_mb = client.info("memory")["used_memory"] / 2**20
        client.flushdb()  # the benchmark's own server: nothing worth saving at shutdown
    finally:
        client.close()
        stop_embedded(settings, url, process)
    emit(
        {
            "seconds": seconds,
            "peak_rss_mb": rss,
            "vehicles": features.height,
            "redis_used_mb": server_mb,
        }
    )


def run_writer(writer: str, home: Path, table_path: Path, as_of: str) -> dict[str, float]:
    """Measure one writer in its own child process."""
    return run_child("bench.online", writer, str(home), str(table_path), as_of)


if __name__ == "__main__":
    child(*sys.argv[1:5])
