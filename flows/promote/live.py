"""Live evidence: the shadow's comparison with the champion on the same served requests.

The drift flow measures it while a version is the `challenger` and writes it on that version's
tags (`Tag.LIVE_*`, see flows.monitor.shadow). FLEETCAST_PROMOTION_LIVE_EVIDENCE says what
promotion does with it: `off` ignores it; `may` refuses a candidate that enough live pairs show
significantly worse than the champion (its MAE difference's whole interval above zero); `must`
also refuses a candidate without enough live pairs against the current champion. It can only
refuse: a holdout refusal stands whatever the live numbers say.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from features.contract.registry import Tag, tag_number
from features.settings import Settings
from flows.promote.gate import Verdict


@dataclass(frozen=True)
class LiveEvidence:
    """What promotion knew of the candidate's live record, and whether it used it."""

    mode: str  # FLEETCAST_PROMOTION_LIVE_EVIDENCE
    used: bool  # enough pairs against the current champion, and the mode is not off
    pairs: int
    min_pairs: int
    against: str | None  # the champion the pairs were answered beside
    mae_diff: float | None  # shadow minus champion, live MAE
    low: float | None
    high: float | None
    refusal: str | None  # why it refuses the candidate, or None

    def words(self) -> str:
        """One sentence for the decision: which evidence was used, and what it said."""
        if self.mode == "off":
            return "holdout only (FLEETCAST_PROMOTION_LIVE_EVIDENCE=off)"
        if not self.used:
            return (
                f"holdout only: {self.pairs} live pairs beside the champion, "
                f"{self.min_pairs} needed (mode {self.mode})"
            )
        return (
            f"holdout + live: {self.pairs} paired requests beside v{self.against}, live MAE "
            f"{self.mae_diff:+.4f} vs the champion (interval [{self.low:+.4f}, {self.high:+.4f}])"
        )


def judge_live(
    settings: Settings, tags: dict[str, str], champion_version: str | None
) -> LiveEvidence:
    """The candidate's live evidence from its version's `tags`, judged by the setting."""
    mode, need = settings.promotion_live_evidence, settings.live_min_pairs
    against = tags.get(Tag.LIVE_CHAMPION_VERSION)
    current = champion_version is not None and against == champion_version
    pairs = int(tag_number(tags, Tag.LIVE_PAIRS) or 0) if current else 0
    low, high = tag_number(tags, Tag.LIVE_DIFF_LOW), tag_number(tags, Tag.LIVE_DIFF_HIGH)
    used = mode != "off" and pairs >= need and low is not None and high is not None
    evidence = LiveEvidence(
        mode, used, pairs, need, against, tag_number(tags, Tag.LIVE_DIFF), low, high, None
    )
    if champion_version is None or mode == "off":
        return evidence
    if used and low is not None and low > 0:
        why = f"live evidence refuses it: {evidence.words()}: significantly worse"
        return replace(evidence, refusal=why)
    if mode == "must" and not used:
        why = f"live evidence required (FLEETCAST_PROMOTION_LIVE_EVIDENCE=must): {evidence.words()}"
        return replace(evidence, refusal=why)
    return evidence


def overrule(verdict: Verdict, live: LiveEvidence | None) -> Verdict:
    """The holdout's verdict, unless it promotes and the live evidence refuses the candidate."""
    if not verdict.promote or live is None or live.refusal is None:
        return verdict
    return replace(verdict, promote=False, reason=live.refusal)
