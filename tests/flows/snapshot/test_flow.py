"""Feature build flow against real Prefect, the raw store and a real Redis."""

from __future__ import annotations

import datetime as dt
import time

import httpx
import polars as pl
import pytest
import redis
from support.factories import reservation, vehicle, write_reservations, write_vehicles

from features.contract.events import FEATURES_MATERIALIZED
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.settings import Settings
from features.stores.offline import read_meta, scan_snapshot
from features.stores.online import OnlineKeys, OnlineReader, decode
from features.stores.raw import EmptyStoreError
from flows.ingest.flow import ingest_flow
from flows.snapshot.flow import feature_build_flow
from flows.synthetic.generator import generate
from flows.train.flow import train_flow

pytestmark = pytest.mark.integration
MID_YEAR = dt.datetime(2023, 7, 1)


@pytest.fixture
def generated(flow_settings: Settings) -> Settings:
    """A raw store holding 300 generated vehicles and their 2023 reservations."""
    generate(flow_settings.data_dir, n_vehicles=300, seed=7)
    ingest_flow()
    return flow_settings


def _client(settings: Settings) -> redis.Redis:
    return redis.Redis.from_url(settings.redis_url)


def test_online_values_equal_the_snapshot_for_every_vehicle(generated: Settings) -> None:
    meta = feature_build_flow().snapshot
    offline = scan_snapshot(generated, meta.snapshot_id).collect()
    keys = OnlineKeys(generated.redis_key_prefix)
    online = _client(generated).hgetall(keys.snapshot(meta.snapshot_id))
    assert len(online) == offline.height == 300
    for row in offline.iter_rows(named=True):
        assert decode(online[str(row["vehicle_id"]).encode()]) == {
            f: float(row[f]) for f in FEATURE_NAMES
        }
    snapshot, values = OnlineReader(_client(generated), keys).read([1, 300])
    assert snapshot == meta.snapshot_id
    assert all(v is not None for v in values)


def test_labels_count_only_reservations_before_as_of(generated: Settings) -> None:
    meta = feature_build_flow(as_of=MID_YEAR).snapshot
    snapshot = scan_snapshot(generated, meta.snapshot_id).collect()
    raw = pl.read_csv(generated.data_dir / "reservations.csv", try_parse_dates=True)
    expected = raw.filter(pl.col("created_at") < MID_YEAR).group_by("vehicle_id").len()
    got = snapshot.join(expected, on="vehicle_id", how="left").with_columns(
        pl.col("len").fill_null(0)
    )
    assert got[TARGET].null_count() == 0
    assert got[TARGET].to_list() == got["len"].cast(pl.Int64).to_list()
    assert meta.as_of == MID_YEAR.isoformat()


def test_an_old_snapshot_rebuilds_exactly_after_new_data(generated: Settings) -> None:
    first = feature_build_flow(as_of=MID_YEAR).snapshot
    later = write_reservations(generated.home / "2024.csv", [reservation(1, "2024-01-05 10:00:00")])
    ingest_flow(paths=[str(later)])
    assert feature_build_flow(as_of=dt.datetime(2024, 6, 1)).snapshot.snapshot_id != (
        first.snapshot_id
    )
    rebuilt = feature_build_flow(as_of=MID_YEAR).snapshot
    assert (rebuilt.snapshot_id, rebuilt.content_sha256) == (
        first.snapshot_id,
        first.content_sha256,
    )
    assert read_meta(generated, first.snapshot_id).vehicles == 300  # old snapshots stay readable


def _label(settings: Settings, snapshot_id: str, vehicle_id: int) -> int | None:
    snapshot = scan_snapshot(settings, snapshot_id).filter(pl.col("vehicle_id") == vehicle_id)
    return snapshot.collect()[TARGET].item()


def _online(settings: Settings) -> str:
    return _client(settings).get(OnlineKeys(settings.redis_key_prefix).current).decode()


def test_a_replay_cuts_at_the_data_clock_so_new_arrivals_have_no_label(
    generated: Settings,
) -> None:
    """Last year's data, replayed today: listings dropped in landing after it are new, as they
    were live, not never-booked vehicles of a year."""
    last = pl.read_csv(generated.data_dir / "reservations.csv")["created_at"].max()
    generated.landing_dir.mkdir(parents=True, exist_ok=True)
    write_vehicles(generated.landing_dir / "new.csv", [vehicle(5000, num_images=11)])
    ingest_flow()  # the year's files are known (skipped); the landing folder's listing is new
    meta = feature_build_flow().snapshot
    as_of = dt.datetime.fromisoformat(last) + dt.timedelta(seconds=1)
    assert meta.as_of == as_of.isoformat()
    assert meta.snapshot_id.startswith(f"{as_of:%Y%m%dT%H%M%S}-")  # named by the data's time
    assert _label(generated, meta.snapshot_id, 5000) is None
    assert meta.labeled == 300
    _, (values,) = OnlineReader(_client(generated), OnlineKeys(generated.redis_key_prefix)).read(
        [5000]
    )
    assert values is not None and values["num_images"] == 11.0


def test_a_daily_file_landing_late_changes_nothing(generated: Settings) -> None:
    """The file of 2024-01-01 lands days after that day (and a straggler of 2023 after it):
    the data clock, not the day it landed, cuts the build."""
    day = generated.home / "2024-01-01"
    day.mkdir()
    listings = write_vehicles(day / "vehicles.csv", [vehicle(5001), vehicle(5002)])
    booked = write_reservations(
        day / "reservations.csv",
        [reservation(1, "2024-01-01 09:30:00"), reservation(5001, "2024-01-01 17:45:10")],
    )
    before = _label(generated, feature_build_flow().snapshot.snapshot_id, 1)
    ingest_flow(paths=[str(listings), str(booked)])
    meta = feature_build_flow().snapshot
    assert meta.as_of == "2024-01-01T17:45:11"
    assert _label(generated, meta.snapshot_id, 5001) is None  # new, though booked
    assert _label(generated, meta.snapshot_id, 5002) is None
    assert _label(generated, meta.snapshot_id, 1) == (before or 0) + 1
    straggler = write_reservations(day / "late.csv", [reservation(2, "2023-12-31 22:00:00")])
    ingest_flow(paths=[str(straggler)])
    again = feature_build_flow().snapshot  # same clock, more data: the newer build is latest
    assert again.as_of == meta.as_of and again.snapshot_id != meta.snapshot_id
    assert read_meta(generated).snapshot_id == again.snapshot_id == _online(generated)


def test_a_back_dated_build_stays_offline_unless_asked(generated: Settings) -> None:
    current = feature_build_flow().snapshot
    back_dated = feature_build_flow(as_of=MID_YEAR)
    assert back_dated.online is None
    assert "back-dated" in back_dated.message and "online store is unchanged" in back_dated.message
    assert read_meta(generated).snapshot_id == current.snapshot_id  # `latest` did not move
    assert _online(generated) == current.snapshot_id
    served = feature_build_flow(as_of=MID_YEAR, replace_online=True)
    assert served.online is not None and "served online" in served.message
    assert _online(generated) == back_dated.snapshot.snapshot_id
    assert read_meta(generated).snapshot_id == current.snapshot_id  # latest is still by as_of


@pytest.mark.slow
def test_train_without_a_snapshot_trains_on_the_latest_not_the_last_built(
    generated: Settings,
) -> None:
    current = feature_build_flow().snapshot
    feature_build_flow(as_of=MID_YEAR)
    assert train_flow(families=["poisson_glm"]).snapshot_id == current.snapshot_id


def test_switch_flips_one_pointer_and_cleans_old_snapshots(generated: Settings) -> None:
    metas = [feature_build_flow(as_of=dt.datetime(2023, month, 1)).snapshot for month in (4, 5, 6)]
    keys = OnlineKeys(generated.redis_key_prefix)
    client = _client(generated)
    assert client.get(keys.current).decode() == metas[-1].snapshot_id
    live = {k.decode() for k in client.keys(f"{keys.snapshot_prefix}*")}
    assert live == {keys.snapshot(m.snapshot_id) for m in metas[-2:]}  # current + previous
    assert [s.decode() for s in client.lrange(keys.snapshots, 0, -1)] == [
        m.snapshot_id for m in metas[-2:]
    ]


def test_success_emits_the_materialized_event(generated: Settings, prefect_server: str) -> None:
    meta = feature_build_flow().snapshot
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)  # events are sent in the background
    resource = {"id": [f"fleetcast.snapshot.{meta.snapshot_id}"]}
    query = {"filter": {"event": {"name": [FEATURES_MATERIALIZED]}, "any_resource": resource}}
    found: list[dict] = []
    deadline = time.monotonic() + 20
    while not found and time.monotonic() < deadline:  # the server persists events asynchronously
        found = httpx.post(f"{prefect_server}/events/filter", json=query).json()["events"]
        time.sleep(0.1)
    assert found, "no fleetcast.features.materialized event reached the Prefect server"
    assert found[0]["payload"]["snapshot_id"] == meta.snapshot_id
    assert found[0]["payload"]["vehicles"] == 300


def test_empty_raw_store_is_refused_clearly(flow_settings: Settings) -> None:
    with pytest.raises(EmptyStoreError, match="no vehicles: run ingest"):
        feature_build_flow()
