"""Online value encoding and the atomic read, against a real Redis."""

from __future__ import annotations

import redis
from support.factories import vehicle

from features.contract.formulas import FEATURE_NAMES, features_of
from features.contract.schema import VehicleRecord
from features.stores.online import OnlineKeys, OnlineReader, decode, encode_rows


def test_encoding_round_trips_floats_exactly() -> None:
    features = features_of([VehicleRecord(**vehicle(9, actual_price=33.3, recommended_price=70.1))])
    value = encode_rows(features)[9]
    decoded = decode(value)
    assert list(decoded) == list(FEATURE_NAMES)
    assert decoded["price_ratio"] == features["price_ratio"].item()  # bit-exact, not approx


def test_reader_uses_the_current_pointer(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    keys = OnlineKeys("test-reader")
    reader = OnlineReader(client, keys)
    assert reader.read([1]) == (None, [None])
    features = features_of([VehicleRecord(**vehicle(1)), VehicleRecord(**vehicle(2, num_images=9))])
    for snapshot_id, frame in [("old", features.head(1)), ("new", features)]:
        client.hset(keys.snapshot(snapshot_id), mapping=encode_rows(frame))
    client.set(keys.current, "old")
    assert reader.read([1, 2])[0] == "old"
    assert reader.read([1, 2])[1][1] is None
    client.set(keys.current, "new")
    snapshot, values = reader.read([2, 404])
    assert snapshot == "new"
    assert values[0]["num_images"] == 9.0
    assert values[1] is None
    client.delete(*client.keys("test-reader:*"))
