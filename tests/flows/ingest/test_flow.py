"""Ingest flow, run for real against the session's Prefect server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pytest
from support.factories import reservation, vehicle, write_reservations, write_vehicles

from features.contract.schema import EXAMPLE_VEHICLE, KINDS, UNKNOWN_VEHICLE_RULE
from features.settings import Settings
from features.stores import raw as raw_store
from flows.ingest.flow import ingest_flow
from flows.ingest.sources import SourceError

pytestmark = pytest.mark.integration


def _shipped(settings: Settings, vehicles: list[dict], reservations: list[dict]) -> None:
    write_vehicles(settings.data_dir / "vehicles.csv", vehicles)
    write_reservations(settings.data_dir / "reservations.csv", reservations)


def _store_rows(settings: Settings, kind: str) -> pl.DataFrame:
    return raw_store.scan(settings, kind).collect()


def _snapshot_of_store(settings: Settings) -> tuple[str, dict[str, pl.DataFrame]]:
    manifest = (settings.raw_dir / "manifest.json").read_text()
    return manifest, {k: _store_rows(settings, k) for k in KINDS}


@pytest.fixture
def base(flow_settings: Settings) -> Settings:
    """A store holding three vehicles and four reservations."""
    _shipped(
        flow_settings,
        [vehicle(1), vehicle(2, technology=0), vehicle(3, num_images=0)],
        [
            reservation(1, "2023-01-02 10:00:00"),
            reservation(1, "2023-02-02 10:00:00"),
            reservation(2, "2023-03-02 10:00:00"),
            reservation(3, "2023-04-02 10:00:00"),
        ],
    )
    ingest_flow()
    return flow_settings


def test_first_ingest_stores_every_valid_row(base: Settings) -> None:
    assert sorted(_store_rows(base, "vehicles")["vehicle_id"]) == [1, 2, 3]
    assert _store_rows(base, "reservations").height == 4
    manifest = raw_store.load_manifest(base)
    assert manifest.version == 1
    assert manifest.clock == "2023-04-02T10:00:00"


def test_same_content_under_another_name_adds_nothing(base: Settings) -> None:
    before = _snapshot_of_store(base)
    base.landing_dir.mkdir(parents=True)
    shutil.copy(base.data_dir / "reservations.csv", base.landing_dir / "copy-of-reservations.csv")
    report = ingest_flow()
    assert [f.outcome for f in report.files] == ["already ingested"] * 3
    assert report.total("accepted") == 0
    assert report.total("duplicates") == 3 + 4 + 4
    assert _snapshot_of_store(base)[0] == before[0]
    assert (base.landing_dir / "processed" / "copy-of-reservations.csv").exists()


def test_overlapping_file_adds_only_new_rows(base: Settings) -> None:
    path = write_reservations(
        base.home / "more.csv",
        [reservation(1, "2023-01-02 10:00:00"), reservation(2, "2023-05-05 05:05:05")],
    )
    report = ingest_flow(paths=[str(path)])
    assert (report.total("accepted"), report.total("duplicates")) == (1, 1)
    assert _store_rows(base, "reservations").height == 5


def test_bad_rows_are_quarantined_with_source_row_and_rule(flow_settings: Settings) -> None:
    rows = [
        vehicle(1),
        vehicle(2) | {"technology": 7},
        vehicle(3) | {"actual_price": "free"},
        vehicle(4),
    ]
    _shipped(
        flow_settings,
        rows,
        [
            reservation(1, "2023-01-01 00:00:00"),
            reservation(99, "2023-01-01 00:00:00"),
            {"vehicle_id": 4, "created_at": "2023-02-30 12:00:00"},
        ],
    )
    report = ingest_flow()
    vehicles, reservations = report.files
    assert (vehicles.accepted, vehicles.quarantined) == (2, 2)
    assert (reservations.accepted, reservations.quarantined) == (1, 2)
    quarantined = pl.read_csv(reservations.quarantine_file, infer_schema=False)
    assert quarantined["row"].to_list() == ["2", "3"]
    assert quarantined["rule"].to_list() == [
        UNKNOWN_VEHICLE_RULE,
        "created_at must be a timestamp YYYY-MM-DD HH:MM:SS",
    ]
    assert set(quarantined["source_file"]) == {str(flow_settings.data_dir / "reservations.csv")}
    rules = pl.read_csv(vehicles.quarantine_file, infer_schema=False)["rule"].to_list()
    assert rules == ["technology must be <= 1", "actual_price must be a number"]


def test_extra_fields_and_conflicting_ids_are_quarantined(flow_settings: Settings) -> None:
    path = flow_settings.data_dir / "vehicles.csv"
    write_vehicles(path, [vehicle(1), vehicle(2), vehicle(2, num_images=9), vehicle(3), vehicle(3)])
    with open(path, "a") as handle:
        handle.write("4,1,50,50,1,0,10,surprise\n")
    report = ingest_flow(paths=[str(path)])
    (file,) = report.files
    assert (file.accepted, file.duplicates, file.quarantined) == (2, 1, 3)
    rules = pl.read_csv(file.quarantine_file, infer_schema=False)["rule"].to_list()
    assert rules == ["vehicle_id must be unique within a file"] * 2 + [
        "row has more fields than the header"
    ]


def test_wrong_header_fails_the_run_and_changes_nothing(base: Settings) -> None:
    before = _snapshot_of_store(base)
    good = write_reservations(base.home / "good.csv", [reservation(2, "2023-06-01 00:00:00")])
    bad = base.home / "bad.csv"
    bad.write_text("vehicle_id,created,extra\n1,2023-01-01 00:00:00,x\n")
    with pytest.raises(SourceError) as error:
        ingest_flow(paths=[str(good), str(bad)])
    message = str(error.value)
    assert "missing columns ['created_at']" in message
    assert "unexpected columns ['created', 'extra']" in message
    after = _snapshot_of_store(base)
    assert after[0] == before[0]
    assert all(after[1][k].equals(before[1][k]) for k in KINDS)


def test_vehicle_with_new_attributes_becomes_a_new_version(base: Settings) -> None:
    path = write_vehicles(
        base.home / "update.csv", [vehicle(2, technology=0, actual_price=99.0), vehicle(1)]
    )
    report = ingest_flow(paths=[str(path)])
    (file,) = report.files
    assert (file.updated, file.duplicates) == (1, 1)
    versions = _store_rows(base, "vehicles").filter(pl.col("vehicle_id") == 2).sort("ingest_seq")
    assert versions["actual_price"].to_list() == [EXAMPLE_VEHICLE.actual_price, 99.0]
    assert versions["valid_from"].to_list()[1].isoformat() == "2023-04-02T10:00:00"


def test_vehicles_of_the_same_run_are_known_to_its_reservations(flow_settings: Settings) -> None:
    _shipped(flow_settings, [vehicle(5)], [reservation(5, "2023-01-01 00:00:00")])
    report = ingest_flow()
    assert report.total("accepted") == 2
    assert report.total("quarantined") == 0


CRASH_SCRIPT = """
import os, signal, sys
from features.stores import raw as raw_store
from flows.ingest.flow import ingest_flow
def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # the process dies after writing its parts
raw_store.commit = die
ingest_flow(paths=[sys.argv[1]])
"""


@pytest.mark.slow
def test_killed_ingest_leaves_the_previous_store_intact(base: Settings) -> None:
    before = _snapshot_of_store(base)
    more = write_reservations(base.home / "more.csv", [reservation(3, "2023-07-07 07:07:07")])
    crash = subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, str(more)], env=os.environ.copy(), check=False
    )
    assert crash.returncode == -9
    orphans = [p for p in (base.raw_dir / "reservations").glob("*.parquet")]
    assert len(orphans) == 2  # the committed part and the dead run's unreferenced one
    after = _snapshot_of_store(base)
    assert after[0] == before[0]
    assert after[1]["reservations"].equals(before[1]["reservations"])
    report = ingest_flow(paths=[str(more)])
    assert report.total("accepted") == 1
    assert (
        len(json.loads((base.raw_dir / "manifest.json").read_text())["parts"]["reservations"]) == 2
    )
    assert len(list((base.raw_dir / "reservations").glob("*.parquet"))) == 2  # orphan removed


def test_missing_path_is_refused_by_name(flow_settings: Settings) -> None:
    with pytest.raises(SourceError, match=r"paths\[0\]: .*nope.csv does not exist"):
        ingest_flow(paths=[str(flow_settings.home / "nope.csv")])


def test_spreadsheet_export_with_bom_and_crlf_is_read(flow_settings: Settings) -> None:
    flow_settings.home.mkdir(parents=True, exist_ok=True)
    clean = write_vehicles(
        flow_settings.home / "clean.csv", [vehicle(1), vehicle(2, description=40)]
    )
    exported = flow_settings.home / "export.csv"
    exported.write_bytes(b"\xef\xbb\xbf" + clean.read_bytes().replace(b"\n", b"\r\n"))
    report = ingest_flow(paths=[str(exported)])
    assert (report.total("accepted"), report.total("quarantined")) == (2, 0)
    assert _store_rows(flow_settings, "vehicles").sort("vehicle_id")["description"].to_list() == [
        EXAMPLE_VEHICLE.description,
        40,
    ]


def test_two_versions_in_one_run_keep_their_file_order(flow_settings: Settings) -> None:
    flow_settings.home.mkdir(parents=True, exist_ok=True)
    first = write_vehicles(flow_settings.home / "a.csv", [vehicle(1, actual_price=50.0)])
    second = write_vehicles(flow_settings.home / "b.csv", [vehicle(1, actual_price=80.0)])
    report = ingest_flow(paths=[str(first), str(second)])
    assert [(f.accepted, f.updated) for f in report.files] == [(1, 0), (0, 1)]
    versions = _store_rows(flow_settings, "vehicles").sort("ingest_seq")
    assert versions["ingest_seq"].n_unique() == 2
    assert versions["actual_price"].to_list() == [50.0, 80.0]


def test_rows_quarantined_by_cross_row_rules_keep_their_text(flow_settings: Settings) -> None:
    _shipped(flow_settings, [vehicle(1)], [reservation(42, "2023-03-04 05:06:07")])
    (_, reservations) = ingest_flow().files
    row = pl.read_csv(reservations.quarantine_file, infer_schema=False).row(0, named=True)
    assert (row["vehicle_id"], row["created_at"]) == ("42", "2023-03-04 05:06:07")


def test_a_file_that_is_not_utf8_text_is_refused_by_name(flow_settings: Settings) -> None:
    flow_settings.home.mkdir(parents=True, exist_ok=True)
    binary = flow_settings.home / "export.csv"
    binary.write_bytes(b"\xff\xfe\x00v\x00e\x00h")
    with pytest.raises(SourceError, match=r"export.csv: not UTF-8 text"):
        ingest_flow(paths=[str(binary)])
