"""The versions a promote run judges: resolving aliases, checking lineage, holdout scores, audit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from features.contract.formulas import FEATURE_NAMES
from features.contract.registry import CANDIDATE, CHAMPION, METRICS, Tag, model_uri
from features.settings import Settings
from flows.evaluation import Split, feature_frame, score, target
from flows.promote.gate import Contender
from flows.train import tracking

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from flows.promote.flow import Promotion


@dataclass(frozen=True)
class Judged:
    """Candidate, champion and baseline, scored on the same holdout rows."""

    candidate: Contender
    champion: Contender | None
    candidate_run_id: str | None
    baseline: dict[str, float]


def version_at_alias(settings: Settings, alias: str) -> ModelVersion | None:
    """The registered model's version at `alias`; None if there is none."""
    from mlflow.exceptions import MlflowException

    client, _ = tracking.connect(settings)
    try:
        return client.get_model_version_by_alias(settings.registered_model, alias)
    except MlflowException:  # no registered model yet, or no version has the alias
        return None


@task(cache_policy=NO_CACHE, retries=2, retry_delay_seconds=2)
def resolve(
    settings: Settings, requested: str | None
) -> tuple[ModelVersion | str, ModelVersion | None]:
    """The versions at `candidate` and `champion` now; a refusal reason instead of a candidate
    when there is none or when `requested` is no longer the candidate (stale)."""
    candidate = version_at_alias(settings, CANDIDATE)
    champion = version_at_alias(settings, CHAMPION)
    if candidate is None:
        return f"no version of {settings.registered_model} has the alias {CANDIDATE!r}", champion
    if requested is not None and str(requested) != str(candidate.version):
        return (f"stale: v{requested} is no longer the candidate (the alias {CANDIDATE!r} "
                f"points at v{candidate.version})"), champion  # fmt: skip
    return candidate, champion


def lineage_problem(settings: Settings, version: ModelVersion) -> str | None:
    """Why a version cannot be judged on this holdout, or None."""
    required = [
        Tag.SNAPSHOT_ID,
        Tag.HOLDOUT_PERCENT,
        Tag.FEATURES,
        Tag.cv(settings.selection_metric),
    ]
    missing = [key for key in required if not version.tags.get(key)]
    if missing:
        return f"missing metrics or lineage tags: {', '.join(missing)}"
    if not math.isfinite(float(version.tags[Tag.cv(settings.selection_metric)])):
        return f"its {Tag.cv(settings.selection_metric)} is not finite"
    if version.tags[Tag.FEATURES] != ",".join(FEATURE_NAMES):
        return "trained on other features than the contract's"
    if int(version.tags[Tag.HOLDOUT_PERCENT]) != settings.holdout_percent:
        return (f"trained with a {version.tags[Tag.HOLDOUT_PERCENT]}% holdout, not "
                f"{settings.holdout_percent}%: it may have seen today's holdout rows")  # fmt: skip
    return None


@task(cache_policy=NO_CACHE, task_run_name="score-v{version.version}")
def score_version(settings: Settings, version: ModelVersion, split: Split) -> Contender:
    """Load one exact version and score it on the holdout; any failure becomes its error."""
    import mlflow.sklearn

    as_of = version.tags.get(Tag.SNAPSHOT_AS_OF)
    problem = lineage_problem(settings, version)
    if problem is not None:
        return Contender(version=str(version.version), error=problem, snapshot_as_of=as_of)
    try:
        model = mlflow.sklearn.load_model(model_uri(settings.registered_model, version.version))
        predicted = np.asarray(model.predict(feature_frame(split.holdout)), dtype=np.float64)
    except Exception as error:  # any load/predict failure disqualifies; the reason is recorded
        reason = f"failed to load or predict: {type(error).__name__}: {error}"
        return Contender(version=str(version.version), error=reason[:500], snapshot_as_of=as_of)
    if not np.isfinite(predicted).all():
        return Contender(version=str(version.version), error="non-finite predictions")
    scores = score(target(split.holdout), predicted)
    return Contender(version=str(version.version), score=scores[settings.selection_metric],
                     snapshot_as_of=as_of, scores=scores)  # fmt: skip


def baseline_scores(split: Split) -> dict[str, float]:
    """The median of the training rows' labels, scored on the holdout."""
    labels = target(split.holdout)
    return score(labels, np.full(len(labels), float(np.median(target(split.train)))))


def score_all(
    settings: Settings, candidate: ModelVersion | str, champion: ModelVersion | None, split: Split
) -> Judged:
    """Score the candidate (unless already refused), the champion and the baseline."""
    if isinstance(candidate, str):
        judged_candidate, run_id = Contender(version="", error=candidate), None
    else:
        judged_candidate, run_id = score_version(settings, candidate, split), candidate.run_id
    same = (
        champion is not None
        and not isinstance(candidate, str)
        and (champion.version == candidate.version)
    )
    judged_champion = None
    if champion is not None:
        judged_champion = judged_candidate if same else score_version(settings, champion, split)
    return Judged(candidate=judged_candidate, champion=judged_champion, candidate_run_id=run_id,
                  baseline=baseline_scores(split))  # fmt: skip


def decision_tags(promotion: Promotion) -> dict[str, str]:
    """Tags the decision leaves on the candidate version (the MLflow side of the audit)."""
    tags = {
        Tag.DECISION: "promoted" if promotion.promoted else "rejected",
        Tag.DECISION_REASON: promotion.reason[:5000],
        Tag.DECIDED_AT: promotion.decided_at,
        "fleetcast.decision_snapshot_id": promotion.snapshot_id,
        "fleetcast.decision_flow_run_id": str(promotion.flow_run_id),
        "fleetcast.compared_to_champion": str(promotion.champion_version),
        "fleetcast.promotion_margin": str(promotion.margin),
    }
    for metric in METRICS:
        if promotion.candidate_scores:
            tags[Tag.holdout(metric)] = str(promotion.candidate_scores[metric])
        if promotion.champion_scores:
            tags[f"fleetcast.champion_holdout_{metric}"] = str(promotion.champion_scores[metric])
        tags[f"fleetcast.baseline_holdout_{metric}"] = str(promotion.baseline_scores[metric])
    if promotion.promoted:
        tags[Tag.PROMOTED_AT] = promotion.decided_at
        tags[Tag.REPLACED_VERSION] = str(promotion.champion_version)
    return tags


def decision_markdown(promotion: Promotion) -> str:
    """The decision as a markdown table: one row per contender, then the verdict."""

    def row(name: str, scores: dict[str, float] | None) -> str:
        cells = [f"{scores[m]:.4f}" if scores else "-" for m in METRICS]
        return f"| {name} | " + " | ".join(cells) + " |"

    lines = [
        f"# {'Promoted' if promotion.promoted else 'Not promoted'}: "
        f"{promotion.registered_model} v{promotion.candidate_version or '-'}",
        "",
        f"Holdout of snapshot `{promotion.snapshot_id}` ({promotion.holdout_rows} vehicles); "
        f"gate metric `{promotion.metric}`, margin {promotion.margin:.2%}.",
        "",
        "| model | " + " | ".join(METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
        row(f"candidate v{promotion.candidate_version or '-'}", promotion.candidate_scores),
        row(f"champion v{promotion.champion_version or '-'}", promotion.champion_scores),
        row("median baseline", promotion.baseline_scores),
        "",
        f"**Reason:** {promotion.reason}",
    ]
    return "\n".join(lines)


def champion_history(settings: Settings) -> list[dict[str, Any]]:
    """Every version ever promoted, oldest first, read back from the registry's tags."""
    client, _ = tracking.connect(settings)
    versions = client.search_model_versions(f"name = '{settings.registered_model}'")
    promoted = [v for v in versions if v.tags.get(Tag.PROMOTED_AT)]
    return [
        {"version": str(v.version), "promoted_at": v.tags[Tag.PROMOTED_AT],
         "replaced": v.tags.get(Tag.REPLACED_VERSION), "reason": v.tags.get(Tag.DECISION_REASON),
         **{m: v.tags.get(Tag.holdout(m)) for m in METRICS}}
        for v in sorted(promoted, key=lambda v: v.tags[Tag.PROMOTED_AT])
    ]  # fmt: skip
