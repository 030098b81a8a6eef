"""Feature build flow: raw store -> point-in-time offline snapshot -> Redis online store.

On a Dask cluster (`FLEETCAST_DASK_ADDRESS`) the table is built in hash partitions of the
vehicle ids, side by side, and merged; each partition holds all rows of its vehicles, and the
one global input (when the data's history begins) is computed once, so the merge is exactly
the single-process table.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from prefect import flow, get_run_logger
from prefect.events import emit_event
from prefect.utilities.annotations import unmapped

from features.contract import clock
from features.contract.events import FEATURES_MATERIALIZED, snapshot_resource
from features.contract.point_in_time import feature_table, history_start, in_partition
from features.contract.schema import ENTITY, RESERVATIONS, VEHICLES
from features.local.redis_server import redis_client
from features.settings import Settings, get_settings
from features.stores import raw as raw_store
from features.stores.offline import SnapshotMeta, scan_snapshot, write_snapshot
from features.stores.online import MaterializeResult, OnlineKeys, materialize
from flows.runners import SettingsTaskRunner
from flows.tasks import network_step, step


def normalize_as_of(as_of: dt.datetime | None) -> dt.datetime:
    """`as_of` as naive UTC (the raw timestamps' convention); default now."""
    if as_of is None:
        return clock.naive_now().replace(microsecond=0)  # snapshot ids name whole seconds
    return clock.as_naive_utc(as_of)


@dataclass(frozen=True)
class BuildPlan:
    """What every partition of one build reads: the same committed parts, the same history."""

    as_of: dt.datetime
    parts: dict[str, list[str]]
    raw_version: int
    start: dt.datetime | None


@step
def plan_build(settings: Settings, as_of: dt.datetime) -> BuildPlan:
    """Pin the raw store's committed parts (a concurrent ingest cannot change the build)."""
    manifest = raw_store.load_manifest(settings)
    if not manifest.parts[VEHICLES]:
        raise raw_store.EmptyStoreError(
            f"the raw store under {settings.raw_dir} has no vehicles: run ingest"
        )
    reservations = raw_store.scan(settings, RESERVATIONS, manifest.parts[RESERVATIONS])
    return BuildPlan(as_of, manifest.parts, manifest.version, history_start(reservations, as_of))


@step
def build_partition(
    settings: Settings, plan: BuildPlan, partition: int = 0, partitions: int = 1
) -> pl.DataFrame:
    """Features and labels of the vehicles in one hash partition (all of them if one)."""
    vehicles = raw_store.scan(settings, VEHICLES, plan.parts[VEHICLES])
    reservations = raw_store.scan(settings, RESERVATIONS, plan.parts[RESERVATIONS])
    if partitions > 1:
        vehicles = vehicles.filter(in_partition(partition, partitions))
        reservations = reservations.filter(in_partition(partition, partitions))
    table = feature_table(
        vehicles, reservations, plan.as_of, settings.new_listing_days, start=plan.start
    )
    return table.collect()


def build_table(settings: Settings, plan: BuildPlan) -> pl.DataFrame:
    """The snapshot table: one Polars build here, or hash partitions built side by side on the
    configured Dask cluster and merged into exactly the same table."""
    if not settings.dask_address or settings.feature_partitions == 1:
        return build_partition(settings, plan)
    partitions = settings.feature_partitions
    futures = build_partition.map(
        unmapped(settings), unmapped(plan), range(partitions), unmapped(partitions)
    )
    return pl.concat(futures.result()).sort(ENTITY)


@step
def write_offline(settings: Settings, table: pl.DataFrame, plan: BuildPlan) -> SnapshotMeta:
    """Write the offline snapshot and point `latest` at it."""
    return write_snapshot(settings, table, plan.as_of, plan.raw_version)


@network_step
def write_online(settings: Settings, meta: SnapshotMeta) -> MaterializeResult:
    """Load every vehicle of the snapshot into Redis and switch readers to it."""
    features = scan_snapshot(settings, meta.snapshot_id).collect()
    with redis_client(settings) as client:
        return materialize(
            client,
            OnlineKeys(settings.redis_key_prefix),
            meta.snapshot_id,
            features,
            batch_size=settings.online_write_batch,
            keep=settings.snapshots_kept_online,
            as_of=meta.as_of,
        )


@step
def announce(meta: SnapshotMeta, online: MaterializeResult) -> None:
    """Emit `fleetcast.features.materialized` so downstream deployments can react."""
    emit_event(
        event=FEATURES_MATERIALIZED,
        resource=snapshot_resource(meta.snapshot_id),
        payload={
            "snapshot_id": meta.snapshot_id,
            "as_of": meta.as_of,
            "content_sha256": meta.content_sha256,
            "vehicles": online.vehicles,
            "labeled": meta.labeled,
        },
    )
    get_run_logger().info(
        "snapshot %s: %d vehicles (%d labeled) offline and online; removed %s",
        meta.snapshot_id,
        meta.vehicles,
        meta.labeled,
        online.removed_snapshots or "nothing",
    )


@flow(name="features", task_runner=SettingsTaskRunner())
def feature_build_flow(as_of: dt.datetime | None = None) -> SnapshotMeta:
    """Build the point-in-time feature snapshot as of `as_of` (default now), write it offline
    (Parquet, with id and content hash) and online (Redis, atomic switch), then emit
    `fleetcast.features.materialized`.
    """
    settings = get_settings()
    plan = plan_build(settings, normalize_as_of(as_of))
    table = build_table(settings, plan)
    meta = write_offline(settings, table, plan)
    online = write_online(settings, meta)
    announce(meta, online)
    return meta
