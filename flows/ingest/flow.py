"""Ingest flow: CSVs (shipped data and the landing folder) into the validated raw store."""

from __future__ import annotations

import shutil

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from features.settings import Settings, get_settings
from features.stores import raw as raw_store
from flows.ingest.sources import Source, inspect_sources, resolve_paths
from flows.ingest.staging import FileReport, IngestReport, StagedFile, stage_file, with_staged
from flows.tasks import run_name, step


@step
def find_sources(settings: Settings, paths: list[str] | None) -> list[Source]:
    """Resolve the input files, check every header, hash every file; fail before any write."""
    return inspect_sources(resolve_paths(settings, paths))


@step
def stage(
    settings: Settings, source: Source, manifest: raw_store.Manifest, staged: list[StagedFile]
) -> StagedFile:
    """Validate one file against the store (plus files staged earlier in this run)."""
    return stage_file(settings, source, manifest, staged)


@step
def commit_ingest(
    settings: Settings, manifest: raw_store.Manifest, staged: list[StagedFile]
) -> IngestReport:
    """File the quarantines, publish the staged parts in one manifest swap, archive landed CSVs."""
    # Quarantines first: their names come from the content hash, so a run killed before the
    # swap rewrites the same files on retry; after the swap the file is "already ingested"
    # and its quarantine would never be written.
    for item in staged:
        item.publish_quarantine()
    new_manifest = with_staged(manifest, staged)
    if new_manifest.version != manifest.version:
        raw_store.commit(settings, new_manifest)
    _archive_landed(settings, [s.source for s in staged])
    return IngestReport(
        files=[s.report for s in staged],
        store_version=new_manifest.version,
    )


def _archive_landed(settings: Settings, sources: list[Source]) -> None:
    """Move ingested files out of the landing folder so the next run does not re-read them."""
    done = settings.landing_dir / "processed"
    for source in sources:
        # A concurrent run that read the same landed file may have archived it already.
        if not source.path.exists():
            continue
        if source.path.parent.resolve() == settings.landing_dir.resolve():
            done.mkdir(parents=True, exist_ok=True)
            shutil.move(source.path, done / source.path.name)


@step
def publish_report(report: IngestReport) -> None:
    """Log the per-file counts and attach them to the run as a markdown artifact."""
    logger = get_run_logger()
    for line in report.lines():
        logger.info(line)
    create_markdown_artifact(
        key="ingest-report", markdown=report.markdown(), description="Rows per file and outcome"
    )


@flow(name="ingest", flow_run_name=run_name("ingest", "paths"))
def ingest_flow(paths: list[str] | None = None) -> IngestReport:
    """Validate CSVs into the raw store: bad rows quarantined with the rule they broke,
    duplicates (by content) skipped, the store swapped atomically.

    `paths` defaults to the shipped `vehicles.csv` and `reservations.csv` plus every CSV in
    the landing folder; vehicles files are ingested before reservations files.
    """
    settings = get_settings()
    sources = find_sources(settings, paths)
    with raw_store.writing(settings) as manifest:
        staged: list[StagedFile] = []
        for source in sources:
            staged.append(stage(settings, source, manifest, list(staged)))
        report = commit_ingest(settings, manifest, staged)
    publish_report(report)
    return report


__all__ = ["FileReport", "IngestReport", "ingest_flow"]
