"""Staging one input file: classify its rows, write accepted rows as a not-yet-committed part."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from features.contract import clock
from features.contract.schema import (
    INGEST_SEQ,
    KINDS,
    RECORDS,
    RESERVATIONS,
    VALID_FROM,
    VEHICLES,
    RecordKind,
    columns,
)
from features.settings import Settings
from features.stores import raw as raw_store
from flows.ingest.classify import classify_file
from flows.ingest.rows import (
    ACCEPTED,
    DUPLICATE,
    QUARANTINED,
    ROW,
    RULE,
    STATUS,
    STORED,
    UPDATED,
    as_text,
)
from flows.ingest.sources import Source

SOURCE_FILE = "source_file"


@dataclass
class FileReport:
    """What ingest did with one file."""

    name: str
    kind: str
    sha256: str
    outcome: str  # "ingested" or "already ingested"
    rows: int = 0
    accepted: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    quarantine_file: str | None = None


@dataclass
class StagedFile:
    """A validated file waiting for the commit that publishes it."""

    source: Source
    report: FileReport
    part: str | None = None  # relative to the raw store
    latest_created_at: dt.datetime | None = None
    quarantine_tmp: Path | None = field(default=None, repr=False)

    def publish_quarantine(self) -> None:
        """Move the quarantine file into place (after the store commit)."""
        if self.quarantine_tmp is not None and self.report.quarantine_file:
            target = Path(self.report.quarantine_file)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.quarantine_tmp.replace(target)


@dataclass
class IngestReport:
    """What one ingest run did, per file and in total."""

    files: list[FileReport]
    store_version: int

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    def lines(self) -> list[str]:
        return [
            f"{f.name} ({f.kind}): {f.outcome}; rows={f.rows} accepted={f.accepted} "
            f"updated={f.updated} duplicates={f.duplicates} quarantined={f.quarantined}"
            for f in self.files
        ]

    def markdown(self) -> str:
        head = "| file | kind | outcome | rows | accepted | updated | duplicates | quarantined |"
        rows = [
            f"| {f.name} | {f.kind} | {f.outcome} | {f.rows} | {f.accepted} | {f.updated} "
            f"| {f.duplicates} | {f.quarantined} |"
            for f in self.files
        ]
        return "\n".join(
            [head, "|" + "---|" * 8, *rows, f"\nRaw store version {self.store_version}."]
        )


def _parts(manifest: raw_store.Manifest, staged: list[StagedFile], kind: RecordKind) -> list[str]:
    """A kind's committed parts plus those staged earlier in this run: what a file is checked
    against."""
    return manifest.parts[kind] + [s.part for s in staged if s.part and s.source.kind == kind]


def _stored_rows(
    source: Source, classified: pl.LazyFrame, clock: dt.datetime | None, seq: int
) -> pl.LazyFrame:
    rows = classified.filter(pl.col(STATUS).is_in(STORED)).select(columns(RECORDS[source.kind]))
    if source.kind == VEHICLES:
        rows = rows.with_columns(
            pl.lit(clock, dtype=pl.Datetime("us")).alias(VALID_FROM),
            pl.lit(seq, dtype=pl.Int64).alias(INGEST_SEQ),
        )
    return rows


def _quarantine_rows(source: Source, classified: pl.LazyFrame) -> pl.LazyFrame:
    names = columns(RECORDS[source.kind])
    return (
        classified.filter(pl.col(STATUS) == QUARANTINED)
        .sort(ROW)
        .select(
            pl.lit(str(source.path)).alias(SOURCE_FILE),
            ROW,
            RULE,
            *[as_text(c) for c in names],
        )
    )


def _already_ingested(
    source: Source, manifest: raw_store.Manifest, staged: list[StagedFile]
) -> StagedFile | None:
    """Same content seen before (under any name): nothing to add, every row is a duplicate."""
    rows = None
    if source.sha256 in manifest.sources:
        rows = manifest.sources[source.sha256].rows
    for item in staged:
        if item.source.sha256 == source.sha256:
            rows = item.report.rows
    if rows is None:
        return None
    report = FileReport(
        source.path.name, source.kind, source.sha256, "already ingested", rows=rows, duplicates=rows
    )
    return StagedFile(source=source, report=report)


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _next_seq(manifest: raw_store.Manifest, staged: list[StagedFile]) -> int:
    """Files ingested so far, plus one: orders vehicle versions, within a run too."""
    return len(manifest.sources) + sum(s.report.outcome == "ingested" for s in staged) + 1


def stage_file(
    settings: Settings, source: Source, manifest: raw_store.Manifest, staged: list[StagedFile]
) -> StagedFile:
    """Classify a file's rows; write accepted rows to a new part and rejects to a pending file."""
    known = _already_ingested(source, manifest, staged)
    if known is not None:
        return known
    staging = raw_store.staging_dir(settings)
    staging.mkdir(parents=True, exist_ok=True)
    parts = {kind: _parts(manifest, staged, kind) for kind in KINDS}
    classified_paths = classify_file(settings, source, parts, staging / source.sha256[:16])
    classified = pl.scan_parquet(classified_paths)
    counts = dict(classified.group_by(STATUS).len().collect().iter_rows())
    report = FileReport(
        source.path.name,
        source.kind,
        source.sha256,
        "ingested",
        rows=sum(counts.values()),
        accepted=counts.get(ACCEPTED, 0),
        updated=counts.get(UPDATED, 0),
        duplicates=counts.get(DUPLICATE, 0),
        quarantined=counts.get(QUARANTINED, 0),
    )
    item = StagedFile(source=source, report=report)
    if report.accepted + report.updated:
        seq = _next_seq(manifest, staged)
        part = raw_store.new_part_path(settings, source.kind, seq)
        rows = _stored_rows(source, classified, manifest.clock_time, seq)
        rows.sink_parquet(part, compression="lz4")  # reads ~2x faster than zstd here
        _fsync(part)
        item.part = str(part.relative_to(settings.raw_dir))
        if source.kind == RESERVATIONS:
            item.latest_created_at = (
                pl.scan_parquet(part).select(pl.col("created_at").max()).collect().item()
            )
    if report.quarantined:
        item.quarantine_tmp = staging / f"{source.sha256[:16]}-quarantine.csv"
        _quarantine_rows(source, classified).sink_csv(item.quarantine_tmp)
        _fsync(item.quarantine_tmp)
        report.quarantine_file = str(
            settings.quarantine_dir / f"{source.path.stem}-{source.sha256[:8]}.csv"
        )
    for path in classified_paths:
        path.unlink()
    return item


def with_staged(manifest: raw_store.Manifest, staged: list[StagedFile]) -> raw_store.Manifest:
    """The manifest after publishing `staged` files (unchanged if none was new)."""
    fresh = [s for s in staged if s.report.outcome == "ingested"]
    if not fresh:
        return manifest
    parts = {kind: list(paths) for kind, paths in manifest.parts.items()}
    sources = dict(manifest.sources)
    data_clock = manifest.clock_time
    now = clock.stamp()
    for item in fresh:
        if item.part:
            parts[item.source.kind].append(item.part)
        if item.latest_created_at is not None:
            data_clock = max(data_clock or item.latest_created_at, item.latest_created_at)
        r = item.report
        sources[item.source.sha256] = raw_store.SourceRecord(
            r.name, r.kind, r.rows, r.accepted, r.updated, r.quarantined, r.duplicates, now
        )
    return raw_store.Manifest(
        manifest.version + 1, parts, sources, data_clock.isoformat() if data_clock else None
    )
