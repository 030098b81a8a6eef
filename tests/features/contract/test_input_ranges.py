"""Input ranges: measured on training rows, carried by tags, and a request's values checked
against them exactly at the edges."""

from __future__ import annotations

import json

import numpy as np
import pytest

from features.contract.formulas import FEATURE_NAMES
from features.contract.input_ranges import InputRangeError, from_tags, observe
from features.contract.registry import Tag

N = len(FEATURE_NAMES)


def _training() -> np.ndarray:
    rows = np.arange(101, dtype=np.float64)[:, None] * np.arange(1, N + 1)  # column i: 0..100*i
    return rows


def test_the_ranges_are_each_features_extremes_and_quantiles() -> None:
    ranges = observe(_training())
    assert ranges.rows == 101
    assert [r.feature for r in ranges.ranges] == list(FEATURE_NAMES)
    for i, found in enumerate(ranges.ranges, start=1):
        assert (found.low, found.high) == (0.0, 100.0 * i)
        assert found.quantiles == {"q01": 1.0 * i, "q50": 50.0 * i, "q99": 99.0 * i}


def test_a_value_is_flagged_exactly_when_it_leaves_its_range() -> None:
    ranges = observe(_training())
    edges = np.vstack([np.zeros(N), 100.0 * np.arange(1, N + 1)])
    assert ranges.outside(edges) == []  # both ends are inside
    rows = np.vstack([np.zeros(N), np.zeros(N), np.zeros(N)])
    rows[1, 2] = 300.0 + 1e-9  # just above feature 2's high (300)
    rows[2, 0], rows[2, N - 1] = -1e-300, 1e300
    found = ranges.outside(rows)
    assert [(w.row, w.feature) for w in found] == [
        (1, FEATURE_NAMES[2]),
        (2, FEATURE_NAMES[0]),
        (2, FEATURE_NAMES[N - 1]),
    ]
    assert (found[0].value, found[0].low, found[0].high) == (300.0 + 1e-9, 0.0, 300.0)
    assert found[1].message.startswith(f"{FEATURE_NAMES[0]}: -1e-300 is outside")


def test_the_ranges_travel_as_a_tag_and_come_back_equal() -> None:
    ranges = observe(_training() * 0.1 + 1 / 3)  # floats that need every digit
    assert from_tags(ranges.tags(), "7") == ranges
    assert json.loads(ranges.document()) == json.loads(ranges.tags()[Tag.INPUT_RANGES])


def test_a_version_trained_before_ranges_has_none() -> None:
    assert from_tags({}, "3") is None


@pytest.mark.parametrize(
    "broken",
    [
        "not json",
        '{"rows": 1}',
        '{"rows": 1, "ranges": [{"feature": "technology"}]}',
        "renamed",
        "inverted",
    ],
)
def test_a_broken_tag_is_an_error_naming_the_version_and_the_tag(broken: str) -> None:
    plain = json.loads(observe(_training()).document())
    if broken == "renamed":
        plain["ranges"][0]["feature"] = "colour"
        broken = json.dumps(plain)
    elif broken == "inverted":
        plain["ranges"][1] |= {"low": 5.0, "high": 1.0}
        broken = json.dumps(plain)
    with pytest.raises(InputRangeError, match=f"v9: tag {Tag.INPUT_RANGES}"):
        from_tags({Tag.INPUT_RANGES: broken}, "9")


def test_no_training_rows_is_an_error() -> None:
    with pytest.raises(InputRangeError, match="expected rows x"):
        observe(np.empty((0, N)))
