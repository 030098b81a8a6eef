"""The promotion rule, case by case (the flow-level tests run the same cases for real)."""

from __future__ import annotations

import pytest

from flows.promote.gate import Contender, decide, improvement

BASELINE = 3.0


def _decide(candidate: Contender, champion: Contender | None, margin: float = 0.05):
    return decide(candidate, champion, BASELINE, margin, "mae")


def test_no_champion_promotes_a_candidate_that_beats_the_baseline() -> None:
    verdict = _decide(Contender("2", score=2.0), None)
    assert verdict.promote and "no champion" in verdict.reason


def test_no_champion_and_no_better_than_the_baseline_is_refused() -> None:
    for score in (3.0, 3.5):
        verdict = _decide(Contender("2", score=score), None)
        assert not verdict.promote and "baseline" in verdict.reason


@pytest.mark.parametrize(
    ("candidate", "champion", "promote", "words"),
    [
        (2.5, 2.0, False, "worse"),
        (2.0, 2.0, False, "tie"),
        (1.98, 2.0, False, "under the margin"),  # 1% better, margin 5%
        (1.90, 2.0, True, "better"),  # exactly 5% better
        (1.0, 2.0, True, "better"),
    ],
)
def test_against_the_champion(candidate: float, champion: float, promote: bool, words: str) -> None:
    verdict = _decide(Contender("2", score=candidate), Contender("1", score=champion))
    assert verdict.promote is promote
    assert words in verdict.reason


def test_a_tie_keeps_the_champion_even_with_no_margin() -> None:
    verdict = decide(Contender("2", score=2.0), Contender("1", score=2.0), BASELINE, 0.0, "mae")
    assert not verdict.promote


def test_better_than_the_champion_but_not_the_baseline_is_refused() -> None:
    verdict = _decide(Contender("2", score=3.2), Contender("1", score=4.0))
    assert not verdict.promote and "baseline" in verdict.reason


@pytest.mark.parametrize("score", [None, float("nan"), float("inf")])
def test_a_candidate_without_a_finite_score_is_refused(score: float | None) -> None:
    verdict = _decide(Contender("2", score=score), None)
    assert not verdict.promote and "no finite holdout mae" in verdict.reason


def test_a_candidate_with_an_error_is_refused_with_that_error() -> None:
    verdict = _decide(Contender("2", error="failed to load: boom"), Contender("1", score=2.0))
    assert not verdict.promote
    assert "v2 refused: failed to load: boom" in verdict.reason


def test_an_unusable_champion_does_not_block_a_good_candidate() -> None:
    verdict = _decide(Contender("2", score=2.0), Contender("1", error="failed to load"))
    assert verdict.promote and "unusable" in verdict.reason


def test_the_champion_itself_is_never_promoted_again() -> None:
    verdict = _decide(Contender("1", score=1.0), Contender("1", score=1.0))
    assert not verdict.promote and "already the champion" in verdict.reason


def test_a_candidate_trained_on_older_data_is_stale() -> None:
    old = Contender("2", score=1.0, snapshot_as_of="2023-06-01T00:00:00")
    new = Contender("1", score=2.0, snapshot_as_of="2023-07-01T00:00:00")
    verdict = _decide(old, new)
    assert not verdict.promote and "stale" in verdict.reason


def test_improvement_is_relative_to_the_champion() -> None:
    assert improvement(1.5, 2.0) == pytest.approx(0.25)
    assert improvement(2.5, 2.0) == pytest.approx(-0.25)
    assert improvement(0.0, 0.0) == 0.0
