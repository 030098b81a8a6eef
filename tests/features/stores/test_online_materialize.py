"""Materialization into a real Redis: complete, atomic for readers, cleaned up."""

from __future__ import annotations

import threading

import polars as pl
import pytest
import redis
from support.factories import vehicle

from features.contract.formulas import features_of
from features.contract.schema import VehicleRecord
from features.stores.online import OnlineKeys, OnlineReader, materialize


def _features(n: int, num_images: int) -> pl.DataFrame:
    return features_of(
        [VehicleRecord(**vehicle(i, num_images=num_images)) for i in range(1, n + 1)]
    )


@pytest.fixture
def client(redis_url: str) -> redis.Redis:
    return redis.Redis.from_url(redis_url)


def test_readers_never_see_a_mix_of_snapshots(client: redis.Redis) -> None:
    keys = OnlineKeys("test-atomic")
    # Snapshot "s<k>" gives every vehicle num_images == k: a torn read would mix values.
    materialize(client, keys, "s0", _features(3000, 0), batch_size=500, keep=2, as_of="x")
    reader = OnlineReader(client, keys)
    seen: list[tuple[str | None, set[float]]] = []
    done = threading.Event()

    def read_forever() -> None:
        while not done.is_set():
            snapshot, values = reader.read(list(range(1, 3001, 97)))
            seen.append((snapshot, {v["num_images"] for v in values if v is not None}))

    thread = threading.Thread(target=read_forever)
    thread.start()
    for k in range(1, 6):
        materialize(client, keys, f"s{k}", _features(3000, k), batch_size=500, keep=2, as_of="x")
    done.set()
    thread.join()
    assert len(seen) > 10
    for snapshot, images in seen:
        assert images == {float(snapshot.removeprefix("s"))}
    client.delete(*client.keys("test-atomic:*"))


def test_rematerializing_the_live_snapshot_keeps_it_readable(client: redis.Redis) -> None:
    keys = OnlineKeys("test-same")
    frame = _features(10, 2)
    materialize(client, keys, "a", frame, batch_size=4, keep=2, as_of="x")
    materialize(client, keys, "a", frame, batch_size=4, keep=2, as_of="x")
    assert client.hlen(keys.snapshot("a")) == 10
    assert client.get(keys.current) == b"a"
    client.delete(*client.keys("test-same:*"))


def test_leftovers_of_an_interrupted_write_are_removed(client: redis.Redis) -> None:
    keys = OnlineKeys("test-orphan")
    client.hset(keys.snapshot("crashed"), mapping={"1": "[1]"})  # written, never switched to
    result = materialize(client, keys, "good", _features(5, 1), batch_size=2, keep=2, as_of="x")
    assert "crashed" in result.removed_snapshots
    assert not client.exists(keys.snapshot("crashed"))
    client.delete(*client.keys("test-orphan:*"))
