"""Tag values as MLflow shows them: readable numbers, and no "None" strings."""

from __future__ import annotations

from features.contract.registry import Tag, as_tags, tag_number, training_tags


def test_numbers_read_short_and_none_is_no_tag() -> None:
    tags = as_tags({"a": 3.395123456789, "b": 4.506543142213104e-06, "c": None, "d": 7, "e": "x"})
    assert tags == {"a": "3.39512", "b": "4.50654e-06", "d": "7", "e": "x"}
    assert tag_number(tags, "a") == 3.39512 and tag_number(tags, "c") is None


def test_a_copy_carries_what_training_wrote_and_nothing_decided_since() -> None:
    tags = {Tag.FAMILY: "extra_trees", Tag.cv("mae"): "3.4", Tag.INTERVAL_LOWER: "-1.8"}
    decided = {Tag.DECISION: "promoted", Tag.holdout("mae"): "3.3", Tag.HOLDOUT_COVERAGE: "0.8"}
    assert training_tags(tags | decided) == tags
