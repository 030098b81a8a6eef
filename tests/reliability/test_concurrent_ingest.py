"""Ingest under concurrency and crashes, with real processes: `fleetcast ingest` twice at once
stores each row once, and an ingest killed at any point of its write leaves a readable store
that the next ingest completes. (tests/flows/ingest/test_flow.py covers a kill just before the
manifest swap; these add the other points and the concurrent runs.)"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from support.factories import reservation, vehicle, write_reservations, write_vehicles
from support.ingest import check_no_leftovers, store_heights

from features.settings import Settings
from features.stores import raw as raw_store
from flows.ingest.flow import ingest_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FLEETCAST = str(Path(sys.executable).parent / "fleetcast")
START = dt.datetime(2023, 1, 1)


def _reservations(path: Path, first: int, count: int) -> Path:
    """`count` reservations of vehicles 1-5, one hour apart from hour `first`."""
    rows = [reservation(1 + i % 5, START + dt.timedelta(hours=first + i)) for i in range(count)]
    return write_reservations(path, rows)


def _spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [FLEETCAST, "ingest", *args],
        env=os.environ.copy(),
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _waiters(lock_file: Path) -> int:
    """Processes blocked on `lock_file`'s flock, from the kernel's own lock table."""
    inode = f":{lock_file.stat().st_ino} "
    return sum(" -> " in line and inode in line for line in Path("/proc/locks").open())


@contextmanager
def _contending(settings: Settings, runs: int, *args: str) -> Iterator[list[subprocess.Popen]]:
    """Start `runs` ingests while this process holds the store's lock, and let go only once
    all of them wait on it: they then race for the write, whatever their start-up times."""
    procs: list[subprocess.Popen] = []
    try:
        with raw_store.write_lock(settings):
            procs += [_spawn(*args) for _ in range(runs)]
            lock_file = settings.raw_dir / "write.lock"
            deadline = time.monotonic() + 120  # a safety net against a hang, not a measure
            while _waiters(lock_file) < runs:
                assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
                assert time.monotonic() < deadline, "the ingests never reached the lock"
                time.sleep(0.05)
        yield procs
    finally:
        for proc in procs:  # only if the test failed before they ended
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _finish(procs: list[subprocess.Popen]) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


def _keys(settings: Settings) -> pl.DataFrame:
    return raw_store.scan(settings, "reservations").collect()


def test_two_ingests_of_the_same_new_file_store_each_row_once(flow_settings: Settings) -> None:
    folder = flow_settings.home.parent
    fleet = write_vehicles(folder / "vehicles.csv", [vehicle(i) for i in range(1, 6)])
    expected = 0
    for round_ in range(3):  # each round a new file overlapping the previous one by 10 rows
        new = _reservations(folder / f"reservations-{round_}.csv", round_ * 40, 50)
        expected = round_ * 40 + 50
        with _contending(flow_settings, 2, str(fleet), str(new)) as procs:
            outputs = _finish(procs)
        lines = [next(x for x in o.splitlines() if x.startswith(new.name)) for o in outputs]
        outcomes = sorted(line.split(": ")[1].split(";")[0] for line in lines)
        assert outcomes == ["already ingested", "ingested"], outputs
        rows = _keys(flow_settings)
        assert rows.height == expected
        assert rows.unique().height == rows.height  # no row twice
    check_no_leftovers(flow_settings)
    assert len(raw_store.load_manifest(flow_settings).sources) == 1 + 3


def test_two_ingests_of_the_landing_folder_archive_each_file_once(flow_settings: Settings) -> None:
    landing = flow_settings.landing_dir
    landing.mkdir(parents=True)
    write_vehicles(landing / "fleet.csv", [vehicle(i) for i in range(1, 6)])
    _reservations(landing / "bookings.csv", 0, 30)
    # Both runs list the same landed files; the loser finds them ingested and archived.
    with _contending(flow_settings, 2) as procs:
        _finish(procs)
    assert store_heights(flow_settings) == {"vehicles": 5, "reservations": 30}
    assert sorted(p.name for p in (landing / "processed").iterdir()) == [
        "bookings.csv",
        "fleet.csv",
    ]
    assert not list(landing.glob("*.csv"))


CRASH = """
import os, signal, sys
from flows.ingest import flow as ingest
from features.stores import raw as raw_store
from flows.ingest import staging

def die():
    os.kill(os.getpid(), signal.SIGKILL)

point = sys.argv[1]
if point == "part half-written":
    def torn(path, fsync=staging._fsync):
        if path.suffix == ".parquet":  # the new part (the quarantine file is a .csv)
            os.truncate(path, path.stat().st_size // 2)
            die()
        fsync(path)
    staging._fsync = torn
elif point == "manifest written, not renamed":
    def replace(src, dst, real=os.replace):
        if str(dst).endswith("manifest.json"):
            die()
        real(src, dst)
    os.replace = replace
elif point == "manifest swapped, not archived":
    def commit(settings, manifest, real=raw_store.commit):
        real(settings, manifest)
        die()
    raw_store.commit = commit
ingest.ingest_flow()
"""
POINTS = ["part half-written", "manifest written, not renamed", "manifest swapped, not archived"]


@pytest.fixture
def stored(flow_settings: Settings) -> Settings:
    """A store holding five vehicles and 20 reservations; a new file waiting in landing with
    30 new reservations and one for an unknown vehicle (so it has a quarantine to file)."""
    flow_settings.landing_dir.mkdir(parents=True)
    write_vehicles(flow_settings.landing_dir / "fleet.csv", [vehicle(i) for i in range(1, 6)])
    _reservations(flow_settings.landing_dir / "first.csv", 0, 20)
    ingest_flow()
    rows = [reservation(1 + i % 5, START + dt.timedelta(hours=100 + i)) for i in range(30)]
    write_reservations(flow_settings.landing_dir / "new.csv", [*rows, reservation(99, START)])
    return flow_settings


def _after_recovery(settings: Settings) -> None:
    """The next ingest completed the killed one: every row once, its quarantine filed, the
    landed file archived, nothing left over."""
    ingest_flow()
    assert store_heights(settings) == {"vehicles": 5, "reservations": 50}
    rows = _keys(settings)
    assert rows.unique().height == rows.height
    (quarantine,) = settings.quarantine_dir.glob("new-*.csv")
    assert pl.read_csv(quarantine, infer_schema=False)["vehicle_id"].to_list() == ["99"]
    assert not list(settings.landing_dir.glob("*.csv"))
    check_no_leftovers(settings)


@pytest.mark.parametrize("point", POINTS)
def test_an_ingest_killed_mid_write_is_completed_by_the_next(stored: Settings, point: str) -> None:
    manifest = (stored.raw_dir / "manifest.json").read_bytes()
    crash = subprocess.run([sys.executable, "-c", CRASH, point], env=os.environ.copy(), check=False)
    assert crash.returncode == -signal.SIGKILL
    heights = store_heights(stored)  # readable: the manifest names only whole parts
    if point == "manifest swapped, not archived":
        assert heights["reservations"] == 50
    else:
        assert heights["reservations"] == 20
        assert (stored.raw_dir / "manifest.json").read_bytes() == manifest
    _after_recovery(stored)


def test_an_ingest_killed_at_any_moment_is_completed_by_the_next(stored: Settings) -> None:
    """A real SIGKILL from outside while the ingest is busy with a large file."""
    big = _reservations(stored.landing_dir / "big.csv", 1000, 200_000)
    proc = _spawn()
    staging = raw_store.staging_dir(stored)
    while proc.poll() is None and not any(staging.glob("*")):
        time.sleep(0.01)  # kill once it writes (or, if it is faster than us, after it ends)
    proc.kill()
    proc.communicate()
    assert store_heights(stored)["reservations"] in {20, 20 + 30 + 200_000}  # one swap per run
    ingest_flow()
    assert store_heights(stored) == {"vehicles": 5, "reservations": 20 + 30 + 200_000}
    assert _keys(stored).unique().height == 20 + 30 + 200_000
    assert not big.exists()
    check_no_leftovers(stored)
