"""The online store (Redis): key layout, value encoding, the atomic read, and the writer.

Layout (prefix `P` from settings):
- `P:online:current`             -> id of the snapshot readers must use (the one pointer)
- `P:online:snap:<snapshot_id>`  -> hash: vehicle_id -> encoded feature vector
- `P:online:meta:<snapshot_id>`  -> hash: feature_names, schema_version, as_of, vehicles
- `P:online:snapshots`           -> list of materialized snapshot ids, oldest first (for cleanup)
- `P:predictions`                -> stream of served predictions (`contract/prediction_log.py`)

A value is the JSON array of the features in `FEATURE_NAMES` order, written as float64 text
that round-trips exactly, so the online values equal the offline snapshot's bit for bit.

Writing a snapshot (`materialize`) is fast and switches atomically. Speed: a redis-py pipeline
of one HSET per vehicle is bound by the Python client (~50k/s).
Here Polars renders the Redis protocol (RESP) for a whole batch of `HSET key id value ...` in
vectorized string operations and the bytes go out in one write per batch, so the cost per
vehicle is a few native string operations. Atomicity: values go under the new snapshot's own
key; readers keep using the old one until
a single MULTI/EXEC flips the `current` pointer. Older snapshots are then unlinked (the one
just replaced is kept, so a reader that read the old pointer an instant ago still finds it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import redis
import redis.asyncio

from features.contract.formulas import FEATURE_NAMES
from features.contract.schema import ENTITY, SCHEMA_VERSION


@dataclass(frozen=True)
class OnlineKeys:
    """Every Redis key fleetcast uses: the online store's, and the prediction log's stream."""

    prefix: str

    @property
    def current(self) -> str:
        return f"{self.prefix}:online:current"

    @property
    def snapshots(self) -> str:
        return f"{self.prefix}:online:snapshots"

    @property
    def snapshot_prefix(self) -> str:
        return f"{self.prefix}:online:snap:"

    def snapshot(self, snapshot_id: str) -> str:
        return f"{self.snapshot_prefix}{snapshot_id}"

    def meta(self, snapshot_id: str) -> str:
        return f"{self.prefix}:online:meta:{snapshot_id}"

    @property
    def prediction_log(self) -> str:
        """Stream of served predictions (`contract/prediction_log.py`), drained to Parquet."""
        return f"{self.prefix}:predictions"


def encoded_features() -> pl.Expr:
    """Polars expression encoding each row's features as the stored value (vectorized)."""
    parts = [pl.col(name).cast(pl.Float64).cast(pl.String) for name in FEATURE_NAMES]
    return pl.format("[{}]", pl.concat_str(parts, separator=",")).alias("value")


def encode_rows(features: pl.DataFrame) -> dict[int, str]:
    """vehicle_id -> stored value, for a few rows (the same encoding as the bulk writer)."""
    encoded = features.select(pl.col(ENTITY), encoded_features())
    return dict(zip(encoded[ENTITY].to_list(), encoded["value"].to_list(), strict=True))


def decode(value: bytes | str) -> dict[str, float]:
    """A stored value back to feature name -> value."""
    return dict(zip(FEATURE_NAMES, json.loads(value), strict=True))


# One round trip, and atomic: the pointer and the values come from the same snapshot even if
# a writer flips the pointer in between.
_READ_SCRIPT = """
local snapshot = redis.call('GET', KEYS[1])
if not snapshot then return {false} end
local values = redis.call('HMGET', ARGV[1] .. snapshot, unpack(ARGV, 2))
table.insert(values, 1, snapshot)
return values
"""


# Adds or replaces one vehicle in the current snapshot, atomically with reading the pointer.
_PUT_SCRIPT = """
local snapshot = redis.call('GET', KEYS[1])
if not snapshot then return false end
redis.call('HSET', ARGV[1] .. snapshot, ARGV[2], ARGV[3])
return snapshot
"""

Features = dict[str, float]


def _parse_read(reply: list[Any], count: int) -> tuple[str | None, list[Features | None]]:
    snapshot = reply[0].decode() if reply[0] else None
    if snapshot is None:
        return None, [None] * count
    return snapshot, [decode(v) if v is not None else None for v in reply[1:]]


class OnlineReader:
    """Reads feature vectors of vehicles from the current online snapshot."""

    def __init__(self, client: redis.Redis, keys: OnlineKeys) -> None:
        self._keys = keys
        self._script = client.register_script(_READ_SCRIPT)

    def read(self, vehicle_ids: Sequence[int]) -> tuple[str | None, list[Features | None]]:
        """(snapshot id, features or None per id); (None, all None) if nothing is materialized."""
        if not vehicle_ids:
            return None, []
        reply = self._script(
            keys=[self._keys.current], args=[self._keys.snapshot_prefix, *vehicle_ids]
        )
        return _parse_read(reply, len(vehicle_ids))


class AsyncOnlineStore:
    """The online store from asyncio code (the service): the same keys, scripts and encoding."""

    def __init__(self, client: redis.asyncio.Redis, keys: OnlineKeys) -> None:
        self._keys = keys
        self._read = client.register_script(_READ_SCRIPT)
        self._put = client.register_script(_PUT_SCRIPT)

    async def read(self, vehicle_ids: Sequence[int]) -> tuple[str | None, list[Features | None]]:
        """As `OnlineReader.read`, in one round trip for all ids."""
        if not vehicle_ids:
            return None, []
        reply = await self._read(
            keys=[self._keys.current], args=[self._keys.snapshot_prefix, *vehicle_ids]
        )
        return _parse_read(reply, len(vehicle_ids))

    async def put(self, vehicle_id: int, value: str) -> str | None:
        """Store one vehicle's encoded features in the current snapshot; its id (None if none)."""
        reply = await self._put(
            keys=[self._keys.current], args=[self._keys.snapshot_prefix, vehicle_id, value]
        )
        return reply.decode() if reply else None


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
        tx.hset(keys.meta(snapshot_id), mapping={k: v for k, v in meta.items()})
        tx.set(keys.current, snapshot_id)
        tx.lrem(keys.snapshots, 0, snapshot_id)
        tx.rpush(keys.snapshots, snapshot_id)
        tx.execute()


def _cleanup(client: redis.Redis, keys: OnlineKeys, keep: int) -> list[str]:
    """Unlink snapshots beyond the newest `keep`, and any a crashed writer left unlisted."""
    listed = [_text(s) for s in client.lrange(keys.snapshots, 0, -1)]
    kept = set(listed[-keep:])
    stale = [s for s in listed if s not in kept]
    for key in client.scan_iter(match=f"{keys.snapshot_prefix}*", count=1000):
        snapshot_id = _text(key).removeprefix(keys.snapshot_prefix)
        if snapshot_id not in kept and snapshot_id not in stale:
            stale.append(snapshot_id)
    for snapshot_id in stale:
        client.unlink(keys.snapshot(snapshot_id), keys.meta(snapshot_id))
        client.lrem(keys.snapshots, 0, snapshot_id)
    return stale


def is_current(client: redis.Redis, keys: OnlineKeys, snapshot_id: str, vehicles: int) -> bool:
    """True if this snapshot is already live and complete."""
    current = client.get(keys.current)
    live = current is not None and _text(current) == snapshot_id
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
