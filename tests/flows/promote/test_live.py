"""Live evidence at promotion: what the shadow's measured record (its `Tag.LIVE_*` tags) does to
the holdout's verdict under each FLEETCAST_PROMOTION_LIVE_EVIDENCE mode. It can only refuse."""

from __future__ import annotations

from typing import Literal

import pytest

from features.contract.registry import Tag
from features.settings import Settings
from flows.promote.gate import Verdict
from flows.promote.live import judge_live, overrule

PROMOTE = Verdict(promote=True, reason="better beyond the noise")
KEEP = Verdict(promote=False, reason="a tie keeps the champion")
Mode = Literal["off", "may", "must"]


def _settings(mode: Mode, min_pairs: int = 100) -> Settings:
    return Settings(promotion_live_evidence=mode, live_min_pairs=min_pairs)


def _record(low: float, high: float, pairs: int = 500, against: str = "3") -> dict[str, str]:
    """A shadow's tags as the drift flow writes them (numbers as `str(float)`)."""
    return {
        Tag.LIVE_CHAMPION_VERSION: against,
        Tag.LIVE_PAIRS: str(pairs),
        Tag.LIVE_DIFF: str((low + high) / 2),
        Tag.LIVE_DIFF_LOW: str(low),
        Tag.LIVE_DIFF_HIGH: str(high),
        Tag.LIVE_MEASURED_AT: "2026-12-01T00:00:00+00:00",
    }


WORSE = _record(0.10, 0.40)  # its whole interval above zero: significantly worse live
BETTER = _record(-0.40, -0.10)
UNCLEAR = _record(-0.10, 0.20)


@pytest.mark.parametrize("mode", ["may", "must"])
def test_significantly_worse_live_refuses_a_holdout_promotion(mode: Mode) -> None:
    live = judge_live(_settings(mode), WORSE, "3")
    assert live.used and live.refusal is not None and "significantly worse" in live.refusal
    verdict = overrule(PROMOTE, live)
    assert not verdict.promote and verdict.reason == live.refusal


@pytest.mark.parametrize("tags", [BETTER, UNCLEAR])
def test_live_evidence_that_is_not_worse_lets_the_holdout_decide(tags: dict[str, str]) -> None:
    live = judge_live(_settings("must"), tags, "3")
    assert live.used and live.refusal is None
    assert overrule(PROMOTE, live) == PROMOTE
    assert "holdout + live: 500 paired requests beside v3" in live.words()


def test_off_ignores_even_a_worse_record() -> None:
    live = judge_live(_settings("off"), WORSE, "3")
    assert not live.used and live.refusal is None
    assert overrule(PROMOTE, live) == PROMOTE
    assert live.words() == "holdout only (FLEETCAST_PROMOTION_LIVE_EVIDENCE=off)"


def test_a_record_beside_another_champion_counts_no_pairs() -> None:
    """The champion moved since it was measured: those pairs compared it with someone else."""
    may = judge_live(_settings("may"), WORSE, "4")
    assert may.pairs == 0 and not may.used and may.refusal is None
    must = judge_live(_settings("must"), WORSE, "4")
    assert must.refusal is not None and "required" in must.refusal
    assert "0 live pairs beside the champion, 100 needed" in must.refusal


def test_too_few_pairs_are_not_evidence() -> None:
    few = _record(0.10, 0.40, pairs=99)
    assert judge_live(_settings("may", min_pairs=100), few, "3").refusal is None
    assert judge_live(_settings("must", min_pairs=100), few, "3").refusal is not None
    assert judge_live(_settings("may", min_pairs=99), few, "3").refusal is not None


def test_without_a_record_may_passes_and_must_refuses() -> None:
    assert judge_live(_settings("may"), {}, "3").refusal is None
    assert judge_live(_settings("must"), {}, "3").refusal is not None


def test_a_record_without_an_interval_is_not_used() -> None:
    """One pair has no spread: the drift flow writes no interval tags."""
    tags = {Tag.LIVE_CHAMPION_VERSION: "3", Tag.LIVE_PAIRS: "500", Tag.LIVE_DIFF: "0.3"}
    live = judge_live(_settings("may"), tags, "3")
    assert not live.used and live.refusal is None


def test_no_champion_needs_no_live_evidence() -> None:
    assert judge_live(_settings("must"), {}, None).refusal is None


def test_live_evidence_never_promotes_what_the_holdout_keeps() -> None:
    live = judge_live(_settings("must"), BETTER, "3")
    assert overrule(KEEP, live) == KEEP
    assert overrule(KEEP, judge_live(_settings("must"), WORSE, "3")) == KEEP
    assert overrule(PROMOTE, None) == PROMOTE
