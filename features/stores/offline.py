"""Offline store: immutable feature snapshots, each with an id, a content hash and metadata.

`offline/snapshots/<id>/{features.parquet,meta.json}` is written whole into a temporary folder
and renamed into place. Snapshots move forward only: the latest is the one with the greatest
`as_of` (ties: the newest build), read off the complete snapshots themselves, so a back-dated
build is kept for training and backtests but never becomes the latest, and there is no pointer
to fall out of step with them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import polars as pl

from features.contract import clock
from features.contract.errors import FleetcastError
from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.point_in_time import SNAPSHOT_COLUMNS
from features.contract.schema import SCHEMA_VERSION
from features.settings import Settings

FEATURES_FILE = "features.parquet"
META_FILE = "meta.json"


class SnapshotNotFoundError(FleetcastError, LookupError):
    """No snapshot with that id (or none at all)."""


@dataclass(frozen=True)
class SnapshotMeta:
    """What a snapshot is: when it was cut, what it holds, and its content's fingerprint."""

    snapshot_id: str
    as_of: str
    content_sha256: str
    vehicles: int
    labeled: int
    feature_names: list[str]
    schema_version: int
    raw_store_version: int
    created_at: str


def content_hash(frame: pl.DataFrame) -> str:
    """sha256 of the table's values in a canonical text form (independent of Parquet encoding)."""
    canonical = frame.select(SNAPSHOT_COLUMNS).sort(SNAPSHOT_COLUMNS[0])
    return hashlib.sha256(canonical.write_csv().encode()).hexdigest()


def _snapshots_dir(settings: Settings) -> Path:
    return settings.offline_dir / "snapshots"


def write_snapshot(
    settings: Settings, frame: pl.DataFrame, as_of: dt.datetime, raw_store_version: int
) -> SnapshotMeta:
    """Store `frame` as a snapshot (reusing an identical one); it is the latest if no other
    snapshot has a later `as_of` (or the same one, built later)."""
    digest = content_hash(frame)
    snapshot_id = f"{as_of:%Y%m%dT%H%M%S}-{digest[:10]}"
    meta = SnapshotMeta(
        snapshot_id=snapshot_id,
        as_of=as_of.isoformat(),
        content_sha256=digest,
        vehicles=frame.height,
        labeled=int(frame[TARGET].is_not_null().sum()),
        feature_names=list(FEATURE_NAMES),
        schema_version=SCHEMA_VERSION,
        raw_store_version=raw_store_version,
        created_at=clock.stamp("microseconds"),  # orders two builds of one as_of
    )
    final = _snapshots_dir(settings) / snapshot_id
    if not final.exists():
        tmp = _snapshots_dir(settings) / f".tmp-{snapshot_id}-{uuid.uuid4().hex[:6]}"
        tmp.mkdir(parents=True)
        try:
            frame.select(SNAPSHOT_COLUMNS).write_parquet(tmp / FEATURES_FILE)
            (tmp / META_FILE).write_text(json.dumps(asdict(meta), indent=1))
            os.rename(tmp, final)  # atomic: a snapshot folder is complete or absent
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return read_meta(settings, snapshot_id)


def recency(meta: SnapshotMeta) -> tuple[dt.datetime, dt.datetime, str]:
    """How far forward a snapshot is: its `as_of`, then when it was built (then its id)."""
    return clock.naive_utc(meta.as_of), clock.naive_utc(meta.created_at), meta.snapshot_id


def latest_meta(settings: Settings) -> SnapshotMeta:
    """The latest snapshot: the greatest `as_of`, ties broken by the newest build."""
    metas = list_snapshots(settings)
    if not metas:
        raise SnapshotNotFoundError(f"no feature snapshot yet under {settings.offline_dir}")
    return max(metas, key=recency)


def latest_snapshot_id(settings: Settings) -> str:
    """Id of the latest snapshot (`latest_meta`)."""
    return latest_meta(settings).snapshot_id


def read_meta(settings: Settings, snapshot_id: str | None = None) -> SnapshotMeta:
    """Metadata of a snapshot (default: the latest)."""
    if not snapshot_id:
        return latest_meta(settings)
    path = _snapshots_dir(settings) / snapshot_id / META_FILE
    if not path.exists():
        raise SnapshotNotFoundError(
            f"snapshot {snapshot_id!r} not found under {settings.offline_dir}"
        )
    return SnapshotMeta(**json.loads(path.read_text()))


def list_snapshots(settings: Settings) -> list[SnapshotMeta]:
    """Metadata of every complete snapshot, in id order (unfinished temporary folders skipped)."""
    folders = sorted(_snapshots_dir(settings).glob(f"[!.]*/{META_FILE}"))
    return [SnapshotMeta(**json.loads(path.read_text())) for path in folders]


def snapshot_file(settings: Settings, snapshot_id: str) -> Path:
    """The Parquet file holding a snapshot's rows."""
    return _snapshots_dir(settings) / snapshot_id / FEATURES_FILE


def scan_snapshot(settings: Settings, snapshot_id: str | None = None) -> pl.LazyFrame:
    """The rows of a snapshot (default: the latest)."""
    meta = read_meta(settings, snapshot_id)
    return pl.scan_parquet(snapshot_file(settings, meta.snapshot_id))
