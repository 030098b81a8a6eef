"""The main job: every stage in order, as subflows of one parent run."""

from __future__ import annotations

import datetime as dt

from prefect import flow

from features.offline import SnapshotMeta
from flows.feature_build import feature_build_flow
from flows.ingest import ingest_flow


@flow(name="pipeline")
def pipeline_flow(as_of: dt.datetime | None = None) -> SnapshotMeta:
    """Ingest the shipped data and the landing folder, then build and materialize features."""
    ingest_flow()
    return feature_build_flow(as_of=as_of)
