"""Promote flow: judge the candidate against the champion on the frozen holdout, move the alias."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event

from features.contract.events import MODEL_PROMOTED, model_resource
from features.contract.registry import CHAMPION
from features.settings import Settings, get_settings
from features.stores.offline import read_meta, scan_snapshot
from flows.evaluation import NotEnoughDataError, Split, split_labeled
from flows.promote import contenders
from flows.promote.gate import Verdict, decide
from flows.promote.lock import promotion_lock
from flows.train import tracking


@dataclass(frozen=True)
class Promotion:
    """One promotion decision, as recorded in MLflow, the Prefect UI and the event."""

    promoted: bool
    reason: str
    registered_model: str
    candidate_version: str | None
    champion_version: str | None
    candidate_run_id: str | None
    snapshot_id: str
    metric: str
    margin: float
    holdout_rows: int
    candidate_scores: dict[str, float] | None
    champion_scores: dict[str, float] | None
    baseline_scores: dict[str, float]
    decided_at: str
    flow_run_id: str | None


@task(cache_policy=NO_CACHE)
def load_holdout(settings: Settings, snapshot_id: str | None) -> tuple[str, Split]:
    """The frozen holdout (and training rows, for the baseline) of a snapshot (default latest)."""
    meta = read_meta(settings, snapshot_id)
    split = split_labeled(
        scan_snapshot(settings, meta.snapshot_id).collect(), settings.holdout_percent
    )
    if split.holdout.is_empty() or split.train.is_empty():
        raise NotEnoughDataError(
            f"snapshot {meta.snapshot_id}: no labeled holdout or training rows"
        )
    return meta.snapshot_id, split


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def apply(settings: Settings, promotion: Promotion) -> None:
    """Move `champion` if promoted, then tag the candidate with the decision (the audit)."""
    if promotion.candidate_version in (None, promotion.champion_version):
        return  # nothing judged, or the champion itself: keep its promotion record intact
    client, _ = tracking.connect(settings)
    name, version = settings.registered_model, promotion.candidate_version
    if promotion.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    for key, value in contenders.decision_tags(promotion).items():
        client.set_model_version_tag(name, version, key, value)


@task(cache_policy=NO_CACHE)
def announce(promotion: Promotion) -> None:
    """Emit `fleetcast.model.promoted`: the service swaps to the new champion on it."""
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(promotion.registered_model),
        payload={
            "version": promotion.candidate_version,
            "run_id": promotion.candidate_run_id,
            "previous_version": promotion.champion_version,
            "snapshot_id": promotion.snapshot_id,
            "metric": promotion.metric,
            "holdout": promotion.candidate_scores,
        },
    )


@task(cache_policy=NO_CACHE)
def publish(promotion: Promotion) -> None:
    """The decision as a markdown table in the Prefect UI, and one line in the log."""
    create_markdown_artifact(
        key="promotion-decision",
        markdown=contenders.decision_markdown(promotion),
        description=f"{'promoted' if promotion.promoted else 'kept'}: {promotion.reason}",
    )
    get_run_logger().info("%s: %s", "PROMOTED" if promotion.promoted else "kept champion",
                          promotion.reason)  # fmt: skip


@flow(name="promote")
def promote_flow(candidate_version: str | None = None, snapshot_id: str | None = None) -> Promotion:
    """Score the `candidate` and the `champion` on the frozen holdout of a snapshot (default the
    latest) beside a median baseline; move `champion` only if the candidate beats the baseline
    and the champion by the configured margin. Serialized by a Prefect concurrency lock; every
    decision is tagged on the model version and shown here; a promotion emits
    `fleetcast.model.promoted`.
    """
    settings = get_settings()
    snapshot, split = load_holdout(settings, snapshot_id)
    with promotion_lock(settings):
        candidate, champion = contenders.resolve(settings, candidate_version)
        judged = contenders.score_all(settings, candidate, champion, split)
        metric = settings.selection_metric
        verdict = decide(judged.candidate, judged.champion, judged.baseline[metric],
                         settings.promotion_margin, metric)  # fmt: skip
        promotion = _record(settings, verdict, judged, snapshot, split)
        apply(settings, promotion)
    if promotion.promoted:
        announce(promotion)
    publish(promotion)
    return promotion


def _record(settings: Settings, verdict: Verdict, judged: contenders.Judged, snapshot: str,
            split: Split) -> Promotion:  # fmt: skip
    return Promotion(
        promoted=verdict.promote, reason=verdict.reason, registered_model=settings.registered_model,
        candidate_version=judged.candidate.version or None,
        champion_version=judged.champion.version if judged.champion else None,
        candidate_run_id=judged.candidate_run_id, snapshot_id=snapshot,
        metric=settings.selection_metric, margin=settings.promotion_margin,
        holdout_rows=split.holdout.height, candidate_scores=judged.candidate.scores,
        champion_scores=judged.champion.scores if judged.champion else None,
        baseline_scores=judged.baseline,
        decided_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        flow_run_id=runtime.flow_run.id,
    )  # fmt: skip
