"""The partitioned feature build (hash partitions of vehicle ids, merged) equals the one-process
build: in memory for every partition count, and through the flow on a real local Dask cluster."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import polars as pl
import pytest
from distributed import Client, LocalCluster
from polars.testing import assert_frame_equal
from support.factories import reservation, vehicle, write_reservations, write_vehicles

from features.contract.point_in_time import feature_table, history_start, in_partition
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores import raw as raw_store
from features.stores.offline import scan_snapshot
from flows.ingest.flow import ingest_flow
from flows.snapshot.flow import feature_build_flow
from flows.synthetic.generator import generate

pytestmark = pytest.mark.integration
AS_OF = dt.datetime(2024, 1, 20)


@pytest.fixture
def varied(flow_settings: Settings) -> Settings:
    """Generated vehicles, then a second load: new arrivals (no label yet), a repriced vehicle
    (a second version) and late reservations, so partitions differ in every way that counts."""
    generate(flow_settings.data_dir, n_vehicles=300, seed=11)
    ingest_flow()
    arrivals = [vehicle(9000 + i, num_images=i) for i in range(7)] + [vehicle(5, actual_price=999)]
    late = [reservation(9001, "2024-01-02 09:00:00"), reservation(5, "2024-01-03 10:00:00")]
    ingest_flow(
        paths=[
            str(write_vehicles(flow_settings.home / "v2.csv", arrivals)),
            str(write_reservations(flow_settings.home / "r2.csv", late)),
        ]
    )
    return flow_settings


def _full_and_merged(settings: Settings, partitions: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    vehicles, reservations = (
        raw_store.scan(settings, "vehicles"),
        raw_store.scan(settings, "reservations"),
    )
    days = settings.new_listing_days
    full = feature_table(vehicles, reservations, AS_OF, days).collect()
    start = history_start(reservations, AS_OF)
    parts = [
        feature_table(
            vehicles.filter(in_partition(p, partitions)),
            reservations.filter(in_partition(p, partitions)),
            AS_OF,
            days,
            start=start,
        ).collect()
        for p in range(partitions)
    ]
    assert sum(part.height > 0 for part in parts) == partitions  # no partition is trivially empty
    return full, pl.concat(parts).sort(ENTITY)


@pytest.mark.parametrize("partitions", [2, 3, 4, 7])
def test_merged_partitions_equal_the_full_table(varied: Settings, partitions: int) -> None:
    full, merged = _full_and_merged(varied, partitions)
    assert full[ENTITY].is_unique().all() and full.height == 307
    assert full["num_reservations"].null_count() > 0  # new arrivals are in the comparison
    assert_frame_equal(merged, full)


def test_a_partition_needs_the_whole_datas_history_start(varied: Settings) -> None:
    """Without the global start, a partition whose first booking is later labels differently:
    the check above would catch a build that dropped it."""
    reservations = raw_store.scan(varied, "reservations")
    starts = {
        p: reservations.filter(in_partition(p, 7)).select(pl.col("created_at").min()).collect()
        for p in range(7)
    }
    assert len({frame.item() for frame in starts.values()}) > 1


@pytest.fixture
def dask_address() -> Iterator[str]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.mark.slow
def test_flow_on_dask_writes_the_same_snapshot(
    varied: Settings, dask_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = feature_build_flow(as_of=AS_OF).snapshot
    local_table = scan_snapshot(varied, local.snapshot_id).collect()
    monkeypatch.setenv("FLEETCAST_DASK_ADDRESS", dask_address)
    monkeypatch.setenv("FLEETCAST_FEATURE_PARTITIONS", "4")
    with Client(dask_address) as client:
        on_dask = feature_build_flow(as_of=AS_OF).snapshot
        executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(executed.values()) >= 4  # the partitions really ran on the cluster's workers
    assert on_dask.content_sha256 == local.content_sha256
    assert on_dask.vehicles == local.vehicles == 307
    assert_frame_equal(scan_snapshot(varied, on_dask.snapshot_id).collect(), local_table)
