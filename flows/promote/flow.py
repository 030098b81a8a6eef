"""Promote flow: judge the candidate against the champion on the frozen holdout, move the alias."""

from __future__ import annotations

from prefect import flow, get_run_logger, runtime
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from features.contract import clock
from features.contract.events import MODEL_PROMOTED, model_resource, promotion_payload
from features.contract.registry import CANDIDATE, CHAMPION
from features.settings import Settings, get_settings
from features.stores import model_registry
from features.stores.offline import read_meta, scan_snapshot
from flows.evaluation import NotEnoughDataError, Split, split_labeled
from flows.promote import challenger, contenders, slices
from flows.promote.decision import (
    Promotion,
    decision_markdown,
    decision_note,
    decision_tags,
    outcome,
)
from flows.promote.gate import Rule, Verdict, decide
from flows.promote.live import LiveEvidence, judge_live, overrule
from flows.promote.lock import promotion_lock
from flows.tasks import network_step, run_name, step


@step
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


ChallengerMove = tuple[str | None, str | None]  # (before, now) when the alias moved


@network_step
def apply(settings: Settings, promotion: Promotion) -> ChallengerMove | None:
    """Move `champion` if promoted, then tag the candidate with the decision (the audit). A
    rejected version loses the `candidate` alias, so the registry never shows a refused model as
    the one waiting; its `fleetcast.decision` tag says it was rejected. A scored candidate that
    was not promoted becomes the `challenger` (every worker shadows it: live evidence for its
    next judgment); a promoted challenger stops being one. Returns how `challenger` moved."""
    version = _judged(promotion)
    if version is None:
        return None  # nothing judged, or the champion itself: keep its promotion record intact
    client, _ = model_registry.connect(settings)
    name = settings.registered_model
    for key, value in decision_tags(promotion).items():
        client.set_model_version_tag(name, version, key, value)
    described = client.get_model_version(name, version).description or ""
    client.update_model_version(name, version, description=decision_note(described, promotion))
    if promotion.promoted:
        client.set_registered_model_alias(name, CHAMPION, version)
    elif (waiting := model_registry.version_at_alias(settings, CANDIDATE)) and str(
        waiting.version
    ) == version:
        client.delete_registered_model_alias(name, CANDIDATE)
    return _move_challenger(settings, promotion, version)


def _move_challenger(
    settings: Settings, promotion: Promotion, version: str
) -> ChallengerMove | None:
    before = challenger.current(settings)
    if promotion.promoted:
        now = None if before == version else before
    elif promotion.candidate_scores is not None and promotion.candidate_interval is not None:
        now = version  # scored, so it loads and predicts: worth judging on live traffic
    else:
        now = before  # refused before scoring (broken, uncalibrated): not worth shadowing
    if now == before:
        return None
    challenger.move(settings, now)
    return before, now


def _judged(promotion: Promotion) -> str | None:
    """The version the decision judged; None when none was, or it was the champion itself."""
    version = promotion.candidate_version
    return None if version in (None, promotion.champion_version) else version


@network_step
def log_slices(settings: Settings, promotion: Promotion) -> None:
    """The holdout-by-slice table as a CSV artifact of the candidate's training run, beside
    the model it describes (MLflow's side of the slice report)."""
    version, run_id = _judged(promotion), promotion.candidate_run_id
    if version is None or run_id is None or not promotion.slices:
        return
    client, _ = model_registry.connect(settings)
    path = slices.artifact_path(promotion.registered_model, version)
    client.log_text(run_id, slices.to_csv(promotion.slices), path)


@step
def announce(settings: Settings, promotion: Promotion) -> None:
    """Emit `fleetcast.model.promoted`: the service swaps to the new champion on it."""
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(promotion.registered_model),
        payload=promotion_payload(
            promotion.candidate_version,
            promotion.champion_version,
            run_id=promotion.candidate_run_id,
            snapshot_id=promotion.snapshot_id,
            metric=promotion.metric,
            holdout=promotion.candidate_scores,
            version_url=model_registry.version_url(settings, promotion.candidate_version),
        ),
    )


@step
def publish(settings: Settings, promotion: Promotion) -> None:
    """The decision as a markdown table in the Prefect UI (the versions linked to MLflow when
    a tracking server is set), and one line in the log."""
    pages = {
        f"v{v}": model_registry.version_url(settings, v)
        for v in (promotion.candidate_version, promotion.champion_version)
        if v
    }
    create_markdown_artifact(
        key="promotion-decision",
        markdown=decision_markdown(promotion, pages),
        description=f"{outcome(promotion)}: {promotion.reason}",
    )
    get_run_logger().info("%s: %s", outcome(promotion).upper(), promotion.reason)


@flow(name="promote", flow_run_name=run_name("promote", "candidate_version", "snapshot_id"))
def promote_flow(candidate_version: str | None = None, snapshot_id: str | None = None) -> Promotion:
    """Score the `candidate` and the `champion` on the same frozen holdout vehicles of a
    snapshot (default the latest) beside a median baseline. Move `champion` only if the
    candidate's prediction intervals cover the holdout no more than the tolerance below their
    level, it beats the baseline, and it beats the champion beyond the noise: the lower bound of a
    paired bootstrap of its relative improvement, at the promotion confidence, clears the
    minimum effect, and its live record as the shadow (FLEETCAST_PROMOTION_LIVE_EVIDENCE) does
    not refuse it. Without a candidate, the `challenger` is judged again. Serialized by a
    Prefect concurrency lock; every decision is tagged on the model version and shown here with
    the holdout by slice; a promotion emits `fleetcast.model.promoted`, and a scored candidate
    left out becomes the `challenger` (`fleetcast.model.challenger`).
    """
    settings = get_settings()
    model_registry.check_answers(settings)  # not while holding the promotion slot
    rule = Rule.of(settings)
    snapshot, split = load_holdout(settings, snapshot_id)
    with promotion_lock(settings):
        resolved = contenders.resolve(settings, candidate_version)
        judged = contenders.score_all(settings, resolved, split)
        verdict = decide(
            judged.candidate, judged.champion, judged.labels, judged.baseline[rule.metric], rule
        )
        live = _live(settings, resolved)
        verdict = overrule(verdict, live)
        promotion = _record(settings, rule, verdict, judged, snapshot, split, live)
        moved = apply(settings, promotion)
    log_slices(settings, promotion)
    if promotion.promoted:
        announce(settings, promotion)
    if moved is not None:
        announce_challenger(settings, moved, outcome(promotion))
    publish(settings, promotion)
    return promotion


def _live(settings: Settings, resolved: contenders.Resolved) -> LiveEvidence | None:
    """The candidate's live record beside the current champion (None: nothing to compare)."""
    if resolved.candidate is None or resolved.champion is None:
        return None
    champion = str(resolved.champion.version)
    return judge_live(settings, dict(resolved.candidate.tags), champion)


@step
def announce_challenger(settings: Settings, moved: ChallengerMove, decision: str) -> None:
    """Emit `fleetcast.model.challenger`: the workers load (or unload) their shadow on it."""
    before, now = moved
    challenger.announce(settings, now, before, f"{decision} by the promote flow")


def _record(
    settings: Settings,
    rule: Rule,
    verdict: Verdict,
    judged: contenders.Judged,
    snapshot: str,
    split: Split,
    live: LiveEvidence | None,
) -> Promotion:
    candidate, champion = judged.candidate, judged.champion
    return Promotion(
        promoted=verdict.promote,
        reason=verdict.reason,
        registered_model=settings.registered_model,
        candidate_version=candidate.version or None,
        champion_version=champion.version if champion else None,
        candidate_run_id=judged.candidate_run_id,
        snapshot_id=snapshot,
        rule=rule,
        holdout_rows=split.holdout.height,
        candidate_scores=candidate.scores,
        champion_scores=champion.scores if champion else None,
        baseline_scores=judged.baseline,
        improvement=verdict.improvement,
        candidate_interval=candidate.interval,
        champion_interval=champion.interval if champion else None,
        slices=slices.slice_table(split.holdout, judged.labels, candidate, champion),
        decided_at=clock.stamp(),
        flow_run_id=runtime.flow_run.id,
        live=live,
    )
