"""Materializing a snapshot into the Redis online store, fast and with an atomic switch.

Speed: a redis-py pipeline of one HSET per vehicle is bound by the Python client (~50k/s).
Here Polars renders the Redis protocol (RESP) for a whole batch of `HSET key id value ...` in
vectorized string operations and the bytes go out in one write per batch, so the cost per
vehicle is a few native string operations.

Atomicity: values go under the new snapshot's own key; readers keep using the old one until
a single MULTI/EXEC flips the `current` pointer. Older snapshots are then unlinked (the one
just replaced is kept, so a reader that read the old pointer an instant ago still finds it).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import redis

from features.contract.formulas import FEATURE_NAMES
from features.contract.schema import ENTITY, SCHEMA_VERSION
from features.stores.online import OnlineKeys, encoded_features


@dataclass(frozen=True)
class MaterializeResult:
    """What a materialization wrote and removed."""

    snapshot_id: str
    vehicles: int
    removed_snapshots: list[str]


def _bulk(*parts: str) -> str:
    return "".join(f"${len(p.encode())}\r\n{p}\r\n" for p in parts)


def resp_hset(key: str, batch: pl.DataFrame) -> bytes:
    """One RESP `HSET key id1 value1 id2 value2 ...` command for a batch of vehicles."""
    field_id = pl.col(ENTITY).cast(pl.String)
    value = pl.col("value")
    pairs = pl.format(
        "${}\r\n{}\r\n${}\r\n{}\r\n",
        field_id.str.len_bytes(),
        field_id,
        value.str.len_bytes(),
        value,
    )
    body = batch.select(pairs.str.join("")).item()
    head = f"*{2 + 2 * batch.height}\r\n" + _bulk("HSET", key)
    return head.encode() + body.encode()


def _write_values(client: redis.Redis, key: str, features: pl.DataFrame, batch_size: int) -> None:
    encoded = features.select(ENTITY, encoded_features())
    connection = client.connection_pool.get_connection()
    try:
        commands = [resp_hset(key, batch) for batch in encoded.iter_slices(batch_size)]
        for command in commands:  # pipelined: send all, then read every reply
            connection.send_packed_command([command], check_health=False)
        for _ in commands:
            connection.read_response()
    finally:
        client.connection_pool.release(connection)


def _flip(client: redis.Redis, keys: OnlineKeys, snapshot_id: str, meta: dict[str, str]) -> None:
    with client.pipeline(transaction=True) as tx:
        tx.hset(keys.meta(snapshot_id), mapping=meta)
        tx.set(keys.current, snapshot_id)
        tx.lrem(keys.snapshots, 0, snapshot_id)
        tx.rpush(keys.snapshots, snapshot_id)
        tx.execute()


def _cleanup(client: redis.Redis, keys: OnlineKeys, keep: int) -> list[str]:
    """Unlink snapshots beyond the newest `keep`, and any a crashed writer left unlisted."""
    listed = [s.decode() for s in client.lrange(keys.snapshots, 0, -1)]
    kept = set(listed[-keep:])
    stale = [s for s in listed if s not in kept]
    for key in client.scan_iter(match=f"{keys.snapshot_prefix}*", count=1000):
        snapshot_id = key.decode().removeprefix(keys.snapshot_prefix)
        if snapshot_id not in kept and snapshot_id not in stale:
            stale.append(snapshot_id)
    for snapshot_id in stale:
        client.unlink(keys.snapshot(snapshot_id), keys.meta(snapshot_id))
        client.lrem(keys.snapshots, 0, snapshot_id)
    return stale


def is_current(client: redis.Redis, keys: OnlineKeys, snapshot_id: str, vehicles: int) -> bool:
    """True if this snapshot is already live and complete."""
    current = client.get(keys.current)
    live = current is not None and current.decode() == snapshot_id
    return live and client.hlen(keys.snapshot(snapshot_id)) == vehicles


def materialize(
    client: redis.Redis,
    keys: OnlineKeys,
    snapshot_id: str,
    features: pl.DataFrame,
    *,
    batch_size: int,
    keep: int,
    as_of: str,
) -> MaterializeResult:
    """Write every vehicle's features under the snapshot's key, flip the pointer, clean up."""
    if not is_current(client, keys, snapshot_id, features.height):
        client.unlink(keys.snapshot(snapshot_id))  # leftovers of an interrupted attempt
        _write_values(client, keys.snapshot(snapshot_id), features, batch_size)
        meta = {
            "feature_names": ",".join(FEATURE_NAMES),
            "schema_version": str(SCHEMA_VERSION),
            "as_of": as_of,
            "vehicles": str(features.height),
        }
        _flip(client, keys, snapshot_id, meta)
    removed = _cleanup(client, keys, keep)
    return MaterializeResult(snapshot_id, features.height, removed)
