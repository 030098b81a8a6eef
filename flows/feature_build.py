"""Feature build flow: raw store -> point-in-time offline snapshot -> Redis online store."""

from __future__ import annotations

import datetime as dt

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from features.build import feature_table
from features.events import FEATURES_MATERIALIZED, snapshot_resource
from features.offline import SnapshotMeta, scan_snapshot, write_snapshot
from features.online import OnlineKeys
from features.redis_server import redis_client
from features.settings import Settings, get_settings
from flows import raw_store
from flows.online_store import MaterializeResult, materialize


def normalize_as_of(as_of: dt.datetime | None) -> dt.datetime:
    """`as_of` as naive UTC (the raw timestamps' convention); default now."""
    if as_of is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    if as_of.tzinfo is not None:
        return as_of.astimezone(dt.UTC).replace(tzinfo=None)
    return as_of


@task(cache_policy=NO_CACHE)
def build_table(settings: Settings, as_of: dt.datetime) -> tuple[pl.DataFrame, int]:
    """Compute every known vehicle's features and label as of `as_of` from the raw store."""
    manifest = raw_store.load_manifest(settings)
    if not manifest.parts["vehicles"]:
        raise raw_store.EmptyStoreError(
            f"the raw store under {settings.raw_dir} has no vehicles: run ingest"
        )
    vehicles = raw_store.scan(settings, "vehicles", manifest.parts["vehicles"])
    reservations = raw_store.scan(settings, "reservations", manifest.parts["reservations"])
    table = feature_table(vehicles, reservations, as_of, settings.new_listing_days).collect()
    return table, manifest.version


@task(cache_policy=NO_CACHE)
def write_offline(
    settings: Settings, table: pl.DataFrame, as_of: dt.datetime, raw_version: int
) -> SnapshotMeta:
    """Write the offline snapshot and point `latest` at it."""
    return write_snapshot(settings, table, as_of, raw_version)


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def write_online(settings: Settings, meta: SnapshotMeta) -> MaterializeResult:
    """Load every vehicle of the snapshot into Redis and switch readers to it."""
    features = scan_snapshot(settings, meta.snapshot_id).collect()
    with redis_client(settings) as client:
        return materialize(
            client, OnlineKeys(settings.redis_key_prefix), meta.snapshot_id, features,
            batch_size=settings.online_write_batch, keep=settings.snapshots_kept_online,
            as_of=meta.as_of,
        )  # fmt: skip


@task(cache_policy=NO_CACHE)
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
        meta.snapshot_id, meta.vehicles, meta.labeled, online.removed_snapshots or "nothing",
    )  # fmt: skip


@flow(name="features")
def feature_build_flow(as_of: dt.datetime | None = None) -> SnapshotMeta:
    """Build the point-in-time feature snapshot as of `as_of` (default now), write it offline
    (Parquet, with id and content hash) and online (Redis, atomic switch), then emit
    `fleetcast.features.materialized`.
    """
    settings = get_settings()
    cut = normalize_as_of(as_of)
    table, raw_version = build_table(settings, cut)
    meta = write_offline(settings, table, cut, raw_version)
    online = write_online(settings, meta)
    announce(meta, online)
    return meta
