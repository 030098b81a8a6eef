"""The main job: every stage in order, as subflows of one parent run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect import flow

from features.stores.offline import SnapshotMeta
from flows.ingest.flow import ingest_flow
from flows.promote.decision import Promotion
from flows.promote.flow import promote_flow
from flows.snapshot.flow import feature_build_flow
from flows.tasks import run_name
from flows.train.flow import train_flow
from flows.train.record import TrainResult


@dataclass(frozen=True)
class PipelineResult:
    """What one run of the main job produced."""

    snapshot: SnapshotMeta
    trained: TrainResult
    promotion: Promotion


@flow(name="pipeline", flow_run_name=run_name("pipeline", "as_of"))
def pipeline_flow(as_of: dt.datetime | None = None) -> PipelineResult:
    """Ingest the shipped data and the landing folder, build and materialize features, train
    the model families on the new snapshot, and judge the new candidate against the champion.
    """
    ingest_flow()
    snapshot = feature_build_flow(as_of=as_of).snapshot
    trained = train_flow(snapshot_id=snapshot.snapshot_id)
    promotion = promote_flow(candidate_version=trained.version, snapshot_id=snapshot.snapshot_id)
    return PipelineResult(snapshot=snapshot, trained=trained, promotion=promotion)
