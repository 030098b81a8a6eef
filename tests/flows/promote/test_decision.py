"""How one decision is recorded: the version's tags and description, and the markdown."""

from __future__ import annotations

import pytest
from support.decisions import decided

from features.contract.registry import TAG_PRECISION, Tag
from flows.promote.decision import decision_markdown, decision_note, decision_tags


def test_the_tags_carry_the_evidence_and_the_coverage() -> None:
    promotion = decided()
    assert promotion.promoted and promotion.improvement is not None
    assert promotion.candidate_interval is not None
    tags = decision_tags(promotion)
    assert tags[Tag.DECISION] == "promoted" and tags[Tag.REPLACED_VERSION] == "1"
    assert float(tags[Tag.PROMOTION_CONFIDENCE]) == 0.95
    assert float(tags[Tag.PROMOTION_MIN_EFFECT]) == 0.0
    gain = promotion.improvement
    assert [
        float(tags[k]) for k in (Tag.IMPROVEMENT_LOW, Tag.IMPROVEMENT, Tag.IMPROVEMENT_HIGH)
    ] == pytest.approx([gain.low, gain.point, gain.high], rel=TAG_PRECISION)  # 6 significant digits
    interval = promotion.candidate_interval
    assert float(tags[Tag.HOLDOUT_COVERAGE]) == pytest.approx(interval.coverage, rel=TAG_PRECISION)
    assert float(tags[Tag.HOLDOUT_WIDTH]) == pytest.approx(interval.width, rel=TAG_PRECISION)
    assert "None" not in tags.values()


def test_a_first_champion_has_no_none_tags() -> None:
    tags = decision_tags(decided(champion_factor=None))
    assert Tag.REPLACED_VERSION not in tags and Tag.COMPARED_TO_CHAMPION not in tags
    assert "None" not in tags.values()


def test_without_a_champion_there_is_no_improvement_to_tag() -> None:
    promotion = decided(champion_factor=None)
    assert promotion.promoted and "no champion yet" in promotion.reason
    tags = decision_tags(promotion)
    assert Tag.IMPROVEMENT not in tags and Tag.HOLDOUT_COVERAGE in tags


def test_the_description_says_the_reason_and_the_coverage() -> None:
    promotion = decided()
    assert promotion.candidate_interval is not None
    note = decision_note("Trained on snapshot-1.", promotion)
    assert note.startswith("Trained on snapshot-1.\n\n**promoted** 2026-12-02T03:00:00+00:00: ")
    assert promotion.reason in note
    coverage = f"{promotion.candidate_interval.coverage:.1%}"
    assert f"Its 80% intervals cover {coverage} of the holdout (mean width " in note


@pytest.mark.parametrize("factor", [1.25, 0.8])
def test_the_markdown_has_the_rule_the_coverage_and_the_slices(factor: float) -> None:
    promotion = decided(champion_factor=factor)
    markdown = decision_markdown(promotion, {"v2": "http://mlflow/v2", "v1": None})
    assert markdown.startswith("# Promoted" if promotion.promoted else "# Rejected")
    assert "promoted when the 95% lower bound of the improvement" in markdown
    assert "(2000 paired bootstrap draws) clears 0.0%" in markdown
    assert "| interval coverage | mean width |" in markdown
    assert f"**Reason:** {promotion.reason}" in markdown
    assert "## Holdout by slice" in markdown
    for s in promotion.slices:
        assert f"| {s.feature} = {s.value} | {s.rows} | " in markdown
    assert markdown.endswith("In MLflow: [v2](http://mlflow/v2).")
