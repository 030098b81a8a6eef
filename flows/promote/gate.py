"""The promotion rule: when a candidate may replace the champion. Pure, so every case is tested.

Both models are scored on the same frozen holdout rows in the same run, beside a median
baseline fitted on the same snapshot's training rows. Lower scores are better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Contender:
    """A registered version as the gate sees it: its holdout score, or why it has none."""

    version: str
    score: float | None = None
    error: str | None = None
    snapshot_as_of: str | None = None
    scores: dict[str, float] | None = None  # every metric, for the audit


@dataclass(frozen=True)
class Verdict:
    """Whether to promote, and a reason a person can read in the audit trail."""

    promote: bool
    reason: str


def improvement(candidate: float, champion: float) -> float:
    """Relative improvement of the candidate over the champion (0.05 = 5% lower error)."""
    if champion == 0:
        return 0.0 if candidate == 0 else -math.inf
    return (champion - candidate) / champion


def decide(
    candidate: Contender, champion: Contender | None, baseline: float, margin: float, metric: str
) -> Verdict:
    """Promote only a loadable, scored candidate that beats the median baseline and, if there is
    a champion, beats it by at least `margin` (relative). Ties keep the champion."""
    if candidate.error is not None:
        return Verdict(False, f"candidate v{candidate.version} refused: {candidate.error}")
    if candidate.score is None or not math.isfinite(candidate.score):
        return Verdict(False, f"candidate v{candidate.version} refused: no finite holdout {metric}")
    if champion is not None and champion.version == candidate.version:
        return Verdict(False, f"v{candidate.version} is already the champion")
    if not candidate.score < baseline:
        return Verdict(
            False,
            f"candidate {metric} {candidate.score:.4f} does not beat the median baseline "
            f"{baseline:.4f}",
        )
    if champion is None:
        return Verdict(True, f"no champion yet; candidate beats the baseline {baseline:.4f}")
    if champion.error is not None or champion.score is None:
        return Verdict(
            True,
            f"champion v{champion.version} unusable ({champion.error}); "
            f"candidate beats the baseline {baseline:.4f}",
        )
    return _against_champion(candidate, champion, margin, metric)


def _against_champion(
    candidate: Contender, champion: Contender, margin: float, metric: str
) -> Verdict:
    assert candidate.score is not None and champion.score is not None
    if _older(candidate.snapshot_as_of, champion.snapshot_as_of):
        return Verdict(
            False,
            f"stale: candidate trained on data as of {candidate.snapshot_as_of}, "
            f"older than the champion's {champion.snapshot_as_of}",
        )
    gain = improvement(candidate.score, champion.score)
    scores = f"{metric} {candidate.score:.4f} vs champion v{champion.version} {champion.score:.4f}"
    if gain > 0 and gain >= margin:
        return Verdict(True, f"{scores}: {gain:.2%} better (margin {margin:.2%})")
    if gain == 0:
        return Verdict(False, f"{scores}: a tie keeps the champion")
    if gain > 0:
        return Verdict(False, f"{scores}: {gain:.2%} better, under the margin {margin:.2%}")
    return Verdict(False, f"{scores}: worse than the champion")


def _older(candidate_as_of: str | None, champion_as_of: str | None) -> bool:
    # ISO-8601 timestamps of one format compare correctly as text.
    return bool(candidate_as_of and champion_as_of and candidate_as_of < champion_as_of)
