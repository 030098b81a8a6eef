"""The main job: every stage in order, as subflows of one parent run."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from features.stores.offline import SnapshotMeta
from flows.ingest.flow import ingest_flow
from flows.ingest.staging import IngestReport
from flows.promote.decision import Promotion, outcome
from flows.promote.flow import promote_flow
from flows.snapshot.flow import feature_build_flow
from flows.tasks import run_name, step
from flows.train.flow import train_flow
from flows.train.record import TrainResult


@dataclass(frozen=True)
class PipelineResult:
    """What one run of the main job produced."""

    snapshot: SnapshotMeta
    trained: TrainResult
    promotion: Promotion


def summary_markdown(ingested: IngestReport, result: PipelineResult) -> str:
    """What the main job did, stage by stage, in one page (each stage's own artifact has more)."""
    meta, trained, promotion = result.snapshot, result.trained, result.promotion
    verdict = f"**{outcome(promotion)}** v{promotion.candidate_version or '-'}: {promotion.reason}"
    return "\n".join(
        [
            f"# Pipeline: {outcome(promotion)} v{promotion.candidate_version or '-'}",
            "",
            "| stage | result |",
            "|---|---|",
            f"| ingest | {ingested.total('accepted')} rows accepted, "
            f"{ingested.total('quarantined')} quarantined (raw store v{ingested.store_version}) |",
            f"| features | snapshot `{meta.snapshot_id}`: {meta.vehicles} vehicles, "
            f"{meta.labeled} labeled, as of {meta.as_of} |",
            f"| train | {trained.family} won, CV MAE {trained.cv['mae']:.3f} vs the median's "
            f"{trained.baseline_cv['mae']:.3f}; registered v{trained.version} |",
            f"| promote | {verdict} |",
        ]
    )


@step
def publish_summary(ingested: IngestReport, result: PipelineResult) -> None:
    """The run's own artifact and log line: what happened, without opening each subflow."""
    markdown = summary_markdown(ingested, result)
    create_markdown_artifact(key="pipeline-summary", markdown=markdown)
    get_run_logger().info(markdown.splitlines()[0].removeprefix("# "))


@flow(name="pipeline", flow_run_name=run_name("pipeline", "as_of"))
def pipeline_flow(as_of: dt.datetime | None = None) -> PipelineResult:
    """Ingest the shipped data and the landing folder, build and materialize features, train
    the model families on the new snapshot, and judge the new candidate against the champion.
    """
    ingested = ingest_flow()
    snapshot = feature_build_flow(as_of=as_of).snapshot
    trained = train_flow(snapshot_id=snapshot.snapshot_id)
    promotion = promote_flow(candidate_version=trained.version, snapshot_id=snapshot.snapshot_id)
    result = PipelineResult(snapshot=snapshot, trained=trained, promotion=promotion)
    publish_summary(ingested, result)
    return result
