"""Feature build flow: raw store -> point-in-time offline snapshot -> Redis online store.

`as_of` defaults to the data clock (`features.contract.clock`). Snapshots move forward only: a
build that is not the latest (an older `as_of`: a backfill, a backtest) is kept offline and the
online store keeps serving what it served, unless the caller asks for `replace_online`.

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
from features.stores.offline import SnapshotMeta, latest_meta, scan_snapshot, write_snapshot
from features.stores.online import MaterializeResult, OnlineKeys, materialize
from flows.runners import SettingsTaskRunner
from flows.tasks import network_step, run_name, step


@dataclass(frozen=True)
class BuildPlan:
    """What every partition of one build reads: the same committed parts, the same history."""

    as_of: dt.datetime
    parts: dict[str, list[str]]
    raw_version: int
    start: dt.datetime | None


@dataclass(frozen=True)
class OnlineChoice:
    """Whether a build goes online, and the line that says why."""

    serve: bool
    message: str


@dataclass(frozen=True)
class FeatureBuild:
    """What one feature build produced: the offline snapshot, and the online write if any."""

    snapshot: SnapshotMeta
    online: MaterializeResult | None  # None: kept offline, the online store unchanged
    message: str


@step
def plan_build(settings: Settings, as_of: dt.datetime | None) -> BuildPlan:
    """Pin the raw store's committed parts (a concurrent ingest cannot change the build) and
    the cut: `as_of` as naive UTC, by default just after the data clock of those parts."""
    manifest = raw_store.load_manifest(settings)
    if not manifest.parts[VEHICLES]:
        raise raw_store.EmptyStoreError(
            f"the raw store under {settings.raw_dir} has no vehicles: run ingest"
        )
    if as_of is None:
        as_of = clock.as_of_after(manifest.clock_time)
    as_of = clock.as_naive_utc(as_of)
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
    """Write the offline snapshot (the latest unless it is back-dated)."""
    return write_snapshot(settings, table, plan.as_of, plan.raw_version)


def online_choice(meta: SnapshotMeta, latest: SnapshotMeta, replace_online: bool) -> OnlineChoice:
    """Serve the build if it is the latest snapshot, or if the caller asked to."""
    if meta.snapshot_id == latest.snapshot_id:
        return OnlineChoice(True, f"snapshot {meta.snapshot_id} is the latest: served online")
    back_dated = (
        f"snapshot {meta.snapshot_id} is back-dated (as of {meta.as_of}; the latest, "
        f"{latest.snapshot_id}, is as of {latest.as_of})"
    )
    if replace_online:
        return OnlineChoice(True, f"{back_dated}: served online, as replace_online asked")
    return OnlineChoice(
        False,
        f"{back_dated}: kept offline for training and backtests; the online store is unchanged "
        "(replace_online, or --replace-online, serves it)",
    )


@step
def choose_online(settings: Settings, meta: SnapshotMeta, replace_online: bool) -> OnlineChoice:
    """Decide against the latest snapshot as it is now (after this build was written)."""
    choice = online_choice(meta, latest_meta(settings), replace_online)
    get_run_logger().info(choice.message)
    return choice


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


@flow(
    name="features",
    flow_run_name=run_name("features", "as_of", "replace_online"),
    task_runner=SettingsTaskRunner(),
)
def feature_build_flow(
    as_of: dt.datetime | None = None, replace_online: bool = False
) -> FeatureBuild:
    """Build the point-in-time feature snapshot as of `as_of` (default: just after the latest
    stored reservation) and write it offline (Parquet, with id and content hash). If it is the
    latest snapshot, or `replace_online` asks, write it online too (Redis, atomic switch) and
    emit `fleetcast.features.materialized`; a back-dated build leaves the online store as it was.
    """
    settings = get_settings()
    plan = plan_build(settings, as_of)
    table = build_table(settings, plan)
    meta = write_offline(settings, table, plan)
    choice = choose_online(settings, meta, replace_online)
    if not choice.serve:
        return FeatureBuild(meta, None, choice.message)
    online = write_online(settings, meta)
    announce(meta, online)
    return FeatureBuild(meta, online, choice.message)
