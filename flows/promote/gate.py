"""The promotion rule: when a candidate may replace the champion. Pure, so every case is tested.

Both models are scored on the same frozen holdout rows in the same run, beside a median
baseline fitted on the same snapshot's training rows. Lower scores are better. A candidate is
promoted only if its prediction intervals keep their level on the holdout, it beats the
baseline, and it beats the champion beyond the noise: the lower confidence bound of a paired
bootstrap of its relative improvement is above the minimum effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from features.contract.intervals import Calibration
from features.settings import Settings
from flows.evaluation import score
from flows.promote import evidence
from flows.promote.evidence import HoldoutInterval, Improvement, level_text


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value
class Contender:
    """A registered version as the gate sees it: its holdout predictions, or why it has none."""

    version: str
    predicted: np.ndarray | None = None  # one per holdout vehicle, in the holdout's order
    scores: dict[str, float] | None = None  # every metric, for the audit
    interval: HoldoutInterval | None = None  # its calibration applied to the holdout
    calibration: Calibration | None = None
    error: str | None = None
    snapshot_as_of: str | None = None

    @classmethod
    def scored(
        cls,
        version: str,
        labels: np.ndarray,
        predicted: np.ndarray,
        calibration: Calibration | None,
        snapshot_as_of: str | None = None,
    ) -> Contender:
        """A version with its holdout predictions, scores and interval coverage."""
        interval = None
        if calibration is not None:
            interval = evidence.holdout_interval(calibration, labels, predicted)
        return cls(
            version=version,
            predicted=predicted,
            scores=score(labels, predicted),
            interval=interval,
            calibration=calibration,
            snapshot_as_of=snapshot_as_of,
        )

    def score(self, metric: str) -> float | None:
        """Its holdout score on `metric`, if it was scored."""
        return None if self.scores is None else self.scores[metric]


@dataclass(frozen=True)
class Rule:
    """What a candidate must show, from the settings (read once per decision)."""

    metric: str
    confidence: float
    min_effect: float
    tolerance: float
    draws: int
    seed: int

    @classmethod
    def of(cls, settings: Settings) -> Rule:
        return cls(
            metric=settings.selection_metric,
            confidence=settings.promotion_confidence,
            min_effect=settings.promotion_min_effect,
            tolerance=settings.interval_tolerance,
            draws=settings.bootstrap_draws,
            seed=settings.seed,
        )


@dataclass(frozen=True)
class Verdict:
    """Whether to promote, a reason a person can read in the audit trail, and the evidence."""

    promote: bool
    reason: str
    improvement: Improvement | None = None


def decide(
    candidate: Contender,
    champion: Contender | None,
    labels: np.ndarray,
    baseline: float,
    rule: Rule,
) -> Verdict:
    """Promote only a loadable, scored, calibrated candidate that beats the median baseline
    and, if there is a usable champion, beats it beyond the noise. Ties keep the champion."""
    refused = _refusal(candidate, champion, rule)
    if refused is not None:
        return Verdict(False, refused)
    value = candidate.score(rule.metric)
    assert value is not None  # a candidate without one was refused
    if not value < baseline:
        return Verdict(
            False,
            f"candidate {rule.metric} {value:.4f} does not beat the median baseline {baseline:.4f}",
        )
    if champion is None:
        return Verdict(True, f"no champion yet; candidate beats the baseline {baseline:.4f}")
    if champion.error is not None or champion.predicted is None:
        return Verdict(
            True,
            f"champion v{champion.version} unusable ({champion.error}); "
            f"candidate beats the baseline {baseline:.4f}",
        )
    return _against_champion(candidate, champion, labels, rule)


def _refusal(candidate: Contender, champion: Contender | None, rule: Rule) -> str | None:
    """Why the candidate cannot be judged at all, or None."""
    name = f"candidate v{candidate.version}"
    if candidate.error is not None:
        return f"{name} refused: {candidate.error}"
    value = candidate.score(rule.metric)
    if candidate.predicted is None or value is None or not math.isfinite(value):
        return f"{name} refused: no finite holdout {rule.metric}"
    if champion is not None and champion.version == candidate.version:
        return f"v{candidate.version} is already the champion"
    interval = candidate.interval
    if interval is None:
        return f"{name} refused: no interval calibration to check on the holdout"
    if interval.misses(rule.tolerance):
        return (
            f"{name} refused: holdout coverage {interval.coverage:.1%} of its "
            f"{level_text(interval.level)} intervals falls short of the level by more than "
            f"the tolerance of {rule.tolerance * 100:g} points"
        )
    return None


def _against_champion(
    candidate: Contender, champion: Contender, labels: np.ndarray, rule: Rule
) -> Verdict:
    assert candidate.predicted is not None and champion.predicted is not None
    if _older(candidate.snapshot_as_of, champion.snapshot_as_of):
        return Verdict(
            False,
            f"stale: candidate trained on data as of {candidate.snapshot_as_of}, "
            f"older than the champion's {champion.snapshot_as_of}",
        )
    scores = (
        f"{rule.metric} {candidate.score(rule.metric):.3f} vs champion v{champion.version} "
        f"{champion.score(rule.metric):.3f}"
    )
    if np.array_equal(candidate.predicted, champion.predicted):
        return Verdict(False, f"{scores}: the same predictions; a tie keeps the champion")
    gain = evidence.improvement(
        rule.metric,
        labels,
        candidate.predicted,
        champion.predicted,
        confidence=rule.confidence,
        draws=rule.draws,
        seed=rule.seed,
    )
    said = f"{scores}: {gain.describe()}; its {level_text(rule.confidence)} lower bound"
    minimum = f"the minimum {rule.min_effect:.1%}"
    if gain.clears(rule.min_effect):
        return Verdict(True, f"{said} {gain.low:.1%} clears {minimum}", gain)
    why = "worse than the champion" if gain.high < 0 else "not enough evidence"
    return Verdict(
        False, f"{said} {gain.low:.1%} does not clear {minimum}: {why}, the champion stays", gain
    )


def _older(candidate_as_of: str | None, champion_as_of: str | None) -> bool:
    # ISO-8601 timestamps of one format compare correctly as text.
    return bool(candidate_as_of and champion_as_of and candidate_as_of < champion_as_of)
