"""The versions a promote run judges: resolving aliases, checking lineage, holdout scores, audit."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from features.contract import intervals
from features.contract.formulas import FEATURE_NAMES
from features.contract.intervals import Calibration, CalibrationError
from features.contract.registry import CANDIDATE, CHALLENGER, CHAMPION, METRICS, Tag, model_uri
from features.settings import Settings
from features.stores import model_registry
from flows.evaluation import Split, feature_frame, score, target
from flows.promote.gate import Contender
from flows.tasks import named_step, network_step

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion


# Judged in this order: a fresh candidate first, else the shadow with its live record.
_WAITING = (CANDIDATE, CHALLENGER)


@dataclass(frozen=True, eq=False)
class Judged:
    """Candidate, champion and baseline, scored on the same holdout rows (`labels`)."""

    candidate: Contender
    champion: Contender | None
    candidate_run_id: str | None
    baseline: dict[str, float]
    labels: np.ndarray


@dataclass(frozen=True)
class Resolved:
    """The versions at the aliases now; `refused` says why there is no candidate to judge."""

    candidate: ModelVersion | None
    champion: ModelVersion | None
    refused: str | None = None


@network_step
def resolve(settings: Settings, requested: str | None) -> Resolved:
    """The versions at `candidate` and `champion` now; without a `candidate`, the
    `challenger` (re-judged with its live record); no candidate (and why) when there is none or
    when `requested` is neither (stale)."""
    champion = model_registry.version_at_alias(settings, CHAMPION)
    waiting = [
        version
        for version in (model_registry.version_at_alias(settings, alias) for alias in _WAITING)
        if version is not None
    ]
    if not waiting:
        missing = f"no version of {settings.registered_model} has the alias {CANDIDATE!r}"
        return Resolved(None, champion, f"{missing} (nor {CHALLENGER!r})")
    if requested is None:
        return Resolved(waiting[0], champion)
    for version in waiting:
        if str(version.version) == str(requested):
            return Resolved(version, champion)
    named = ", ".join(f"v{v.version}" for v in waiting)
    stale = (
        f"stale: v{requested} is no longer the candidate (the aliases {CANDIDATE!r} and "
        f"{CHALLENGER!r} point at {named})"
    )
    return Resolved(None, champion, stale)


def lineage_problem(
    settings: Settings, version: ModelVersion, calibrated: bool = False
) -> str | None:
    """Why a version cannot be judged on this holdout, or None; `calibrated`: its interval
    calibration must be there too (a candidate's; a champion may predate intervals)."""
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
        return (
            f"trained with a {version.tags[Tag.HOLDOUT_PERCENT]}% holdout, not "
            f"{settings.holdout_percent}%: it may have seen today's holdout rows"
        )
    if calibrated:
        try:
            intervals.from_tags(version.tags, str(version.version))
        except CalibrationError as error:
            return str(error)
    return None


def calibration_of(version: ModelVersion) -> Calibration | None:
    """The version's interval calibration, or None when it has none (or a broken one)."""
    try:
        return intervals.from_tags(version.tags, str(version.version))
    except CalibrationError:
        return None


@named_step("score-v{version.version}")
def score_version(
    settings: Settings, version: ModelVersion, split: Split, calibrated: bool = False
) -> Contender:
    """Load one exact version and score it on the holdout; any failure becomes its error."""
    import mlflow.sklearn

    as_of = version.tags.get(Tag.SNAPSHOT_AS_OF)
    problem = lineage_problem(settings, version, calibrated)
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
    labels = target(split.holdout)
    return Contender.scored(str(version.version), labels, predicted, calibration_of(version), as_of)


def baseline_scores(split: Split) -> dict[str, float]:
    """The median of the training rows' labels, scored on the holdout."""
    labels = target(split.holdout)
    return score(labels, np.full(len(labels), float(np.median(target(split.train)))))


def score_all(settings: Settings, resolved: Resolved, split: Split) -> Judged:
    """Score the candidate (unless already refused), the champion and the baseline."""
    candidate, champion = resolved.candidate, resolved.champion
    if candidate is None:
        judged_candidate, run_id = Contender(version="", error=str(resolved.refused)), None
    else:
        judged_candidate = score_version(settings, candidate, split, calibrated=True)
        run_id = candidate.run_id
    same = champion is not None and candidate is not None and champion.version == candidate.version
    judged_champion = None
    if champion is not None:
        judged_champion = judged_candidate if same else score_version(settings, champion, split)
    return Judged(
        candidate=judged_candidate,
        champion=judged_champion,
        candidate_run_id=run_id,
        baseline=baseline_scores(split),
        labels=target(split.holdout),
    )


def champion_history(settings: Settings) -> list[dict[str, Any]]:
    """Every version ever promoted, oldest first, read back from the registry's tags."""
    client, _ = model_registry.connect(settings)
    versions = client.search_model_versions(f"name = '{settings.registered_model}'")
    promoted = [v for v in versions if v.tags.get(Tag.PROMOTED_AT)]
    return [
        {
            "version": str(v.version),
            "promoted_at": v.tags[Tag.PROMOTED_AT],
            "replaced": v.tags.get(Tag.REPLACED_VERSION),
            "reason": v.tags.get(Tag.DECISION_REASON),
            **{m: v.tags.get(Tag.holdout(m)) for m in METRICS},
        }
        for v in sorted(promoted, key=lambda v: v.tags[Tag.PROMOTED_AT])
    ]
