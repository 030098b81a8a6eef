"""The validated raw store: Parquet parts listed by one manifest that is replaced atomically.

A part file is invisible until the manifest names it, so a crash at any point leaves the last
committed store intact; unreferenced parts are removed by the next writer. One writer at a time
(a file lock); readers never lock.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from features.contract.errors import FleetcastError
from features.contract.schema import (
    INGEST_SEQ,
    KINDS,
    RECORDS,
    VALID_FROM,
    VEHICLES,
    RecordKind,
    polars_schema,
)
from features.settings import Settings
from features.stores.atomic import exclusive_lock, write_text_atomic


def store_schema(kind: RecordKind) -> dict[str, pl.DataType]:
    """Columns of a stored kind: the contract's, plus lineage for vehicles."""
    schema = polars_schema(RECORDS[kind])
    if kind == VEHICLES:
        schema |= {VALID_FROM: pl.Datetime("us"), INGEST_SEQ: pl.Int64()}
    return schema


class EmptyStoreError(FleetcastError, RuntimeError):
    """The raw store has nothing to build from yet."""


@dataclass
class SourceRecord:
    """What the store remembers of an ingested file (keyed by the file's content hash)."""

    name: str
    kind: str
    rows: int
    accepted: int
    updated: int
    quarantined: int
    duplicates: int
    ingested_at: str


@dataclass
class Manifest:
    """The committed state of the raw store."""

    version: int = 0
    parts: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KINDS})
    sources: dict[str, SourceRecord] = field(default_factory=dict)
    clock: str | None = None  # latest created_at committed: the data's own "now"

    @property
    def clock_time(self) -> dt.datetime | None:
        return dt.datetime.fromisoformat(self.clock) if self.clock else None


def _manifest_path(settings: Settings) -> Path:
    return settings.raw_dir / "manifest.json"


def load_manifest(settings: Settings) -> Manifest:
    """The last committed manifest (an empty store if none)."""
    path = _manifest_path(settings)
    if not path.exists():
        return Manifest()
    data = json.loads(path.read_text())
    sources = {h: SourceRecord(**s) for h, s in data.pop("sources").items()}
    return Manifest(**data, sources=sources)


def commit(settings: Settings, manifest: Manifest) -> None:
    """Make `manifest` the store's state in one atomic rename."""
    write_text_atomic(_manifest_path(settings), json.dumps(asdict(manifest), indent=1))


def new_part_path(settings: Settings, kind: RecordKind, version: int) -> Path:
    """A fresh, never-referenced part file for `kind`."""
    folder = settings.raw_dir / kind
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"part-{version:06d}-{uuid.uuid4().hex[:8]}.parquet"


def scan(settings: Settings, kind: RecordKind, parts: Sequence[str] | None = None) -> pl.LazyFrame:
    """Lazy view of a kind's rows in the committed store (or of the given part files)."""
    if parts is None:
        parts = load_manifest(settings).parts[kind]
    if not parts:
        return pl.LazyFrame(schema=store_schema(kind))
    return pl.scan_parquet([settings.raw_dir / p for p in parts], schema=store_schema(kind))


def staging_dir(settings: Settings) -> Path:
    """Scratch space of the writer holding the lock: nothing in it is part of the store."""
    return settings.raw_dir / "_staging"


def remove_orphans(settings: Settings, manifest: Manifest) -> int:
    """Delete what a crashed or failed writer left behind (unreferenced parts, staging files,
    a manifest temp file never renamed); the caller must hold the write lock."""
    referenced = {settings.raw_dir / p for parts in manifest.parts.values() for p in parts}
    parts = [p for kind in KINDS for p in (settings.raw_dir / kind).glob("*.parquet")]
    leftovers = [
        *[p for p in parts if p not in referenced],
        *staging_dir(settings).glob("*"),
        *settings.raw_dir.glob(f".{_manifest_path(settings).name}.*.tmp"),
    ]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


@contextmanager
def write_lock(settings: Settings) -> Iterator[None]:
    """Exclusive right to change the raw store, across processes."""
    with exclusive_lock(settings.raw_dir / "write.lock"):
        yield


@contextmanager
def writing(settings: Settings) -> Iterator[Manifest]:
    """Hold the write lock over the committed manifest. If the block fails, whatever it wrote
    but did not commit is removed at once, so a refused run leaves the folder as it found it."""
    with write_lock(settings):
        manifest = load_manifest(settings)
        remove_orphans(settings, manifest)
        try:
            yield manifest
        except BaseException:
            # Re-read: a failure after the commit must keep the parts it published.
            remove_orphans(settings, load_manifest(settings))
            raise
