"""What the CLI prints about a promotion decision."""

from __future__ import annotations

from support.decisions import decided

from flows.cli.lines import decision


def test_the_decision_line_shows_the_interval_and_the_coverage() -> None:
    promotion = decided()
    gain, interval = promotion.improvement, promotion.candidate_interval
    assert gain is not None and interval is not None
    lines = decision(promotion).splitlines()
    assert lines[0] == f"PROMOTED v2: {promotion.reason}"
    assert lines[1].startswith("  holdout (200 vehicles): mae ")
    assert lines[2] == (
        f"  improvement over champion v1: {gain.point:.1%}, interval [{gain.low:.1%}, "
        f"{gain.high:.1%}] (each bound at 95%; must clear 0.0%)"
    )
    assert lines[3].startswith(f"  candidate v2: 80% intervals cover {interval.coverage:.1%}")
    assert lines[4].startswith("  champion v1: 80% intervals cover ")


def test_a_candidate_no_better_than_the_champion_says_why_it_stays() -> None:
    promotion = decided(champion_factor=0.8)  # about as good as the candidate, for MAE
    first = decision(promotion).splitlines()[0]
    assert first.startswith("REJECTED v2: mae ")
    assert first.endswith("not enough evidence, the champion stays")
