"""The shadow against the champion on the same requests: the comparison on hand-made pairs with
known answers, which logged rows make pairs, and a real drift-flow run that writes the shadow's
live evidence (its `Tag.LIVE_*` tags) beside the report, the artifact and the MLflow drift run."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
from support.drift import log_rows, write_log
from support.registry import register_copy

from features.contract.formulas import FEATURE_NAMES, TARGET
from features.contract.prediction_log import SHADOW_LOWER, SHADOW_UPPER
from features.contract.registry import CHALLENGER, CHAMPION, Tag
from features.contract.schema import ENTITY
from features.settings import Settings
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.monitor import shadow_report
from flows.monitor.drift import drift_flow, make_report, measure_shadow, resolve_shadow
from flows.monitor.drift_data import Current, OutcomeInputs, with_served_as_of
from flows.monitor.drift_result import Champion, DriftResult, markdown, summary_lines
from flows.monitor.shadow import (
    LIVE_TAGS,
    LiveComparison,
    compare_live,
    live_tags,
    metrics,
    shadow_pairs,
)

T = dt.datetime(2026, 11, 20, 12, 0)
DRAWS, SEED = 2000, 7


def _pairs(
    targets: Sequence[float],
    champion_errors: Sequence[float],
    shadow_errors: Sequence[float],
    covered: tuple[Sequence[bool], Sequence[bool]] | None = None,
) -> pl.DataFrame:
    """Outcome pairs as `shadow_pairs` builds them: each answer is its target plus its error;
    each range is [target - 1, target + 1] where `covered` says so, else [target + 5, target + 6]
    (every range covers without `covered`)."""
    n = len(targets)
    every = [True] * n
    champion_covered, shadow_covered = covered if covered is not None else (every, every)

    def bounds(inside: Sequence[bool]) -> tuple[list[int], list[int]]:
        low = [int(t) - 1 if ok else int(t) + 5 for t, ok in zip(targets, inside, strict=True)]
        return low, [value + 2 if ok else value + 1 for value, ok in zip(low, inside, strict=True)]

    answers = [t + e for t, e in zip(targets, champion_errors, strict=True)]
    shadow = [t + e for t, e in zip(targets, shadow_errors, strict=True)]
    features = pl.DataFrame({name: [1.0] * n for name in FEATURE_NAMES})
    rows = log_rows(
        features, T, answers, "1", list(range(1, n + 1)), bounds(champion_covered), ("2", shadow)
    )
    shadow_low, shadow_high = bounds(shadow_covered)
    return rows.with_columns(
        pl.Series(SHADOW_LOWER, shadow_low, pl.Int64),
        pl.Series(SHADOW_UPPER, shadow_high, pl.Int64),
        pl.Series(TARGET, list(targets), pl.Float64),
    )


def _compared(pairs: pl.DataFrame, shadow_rows: int | None = None) -> LiveComparison:
    rows = pairs.height if shadow_rows is None else shadow_rows
    return compare_live(pairs, "1", "2", shadow_rows=rows, confidence=0.95, draws=DRAWS, seed=SEED)


def _known_interval(c: LiveComparison) -> tuple[float, float, float]:
    """The difference and its interval's ends, asserted known."""
    assert c.diff is not None and c.diff_low is not None and c.diff_high is not None
    return c.diff_low, c.diff, c.diff_high


def test_a_clearly_better_shadow_has_an_interval_below_zero() -> None:
    """Champion errors 1 and 3 (MAE 2), the shadow's 0 and 1 (MAE 0.5) on 400 requests: the
    difference is -1.5, and its interval holds it and stays below zero."""
    n = 400
    targets = [float(i % 5) for i in range(n)]
    champion = [1.0 if i % 2 else -3.0 for i in range(n)]
    shadow = [0.0 if i % 2 else 1.0 for i in range(n)]
    halves = [i % 2 == 0 for i in range(n)]
    c = _compared(_pairs(targets, champion, shadow, (halves, [True] * n)), shadow_rows=450)
    assert (c.champion_version, c.shadow_version, c.pairs, c.shadow_rows) == ("1", "2", n, 450)
    assert c.champion_mae == pytest.approx(2.0) and c.shadow_mae == pytest.approx(0.5)
    low, diff, high = _known_interval(c)
    assert diff == pytest.approx(-1.5) and low < diff < high < 0
    assert high - low < 0.2  # 400 pairs: a narrow interval
    assert c.champion_coverage == pytest.approx(0.5) and c.shadow_coverage == 1.0
    assert "the shadow is better beyond the noise" in c.words()
    assert "95% interval" in c.words()


def test_a_shadow_as_good_as_the_champion_has_an_interval_around_zero() -> None:
    n = 400
    targets = [float(i % 5) for i in range(n)]
    champion = [1.0 if i % 2 else 3.0 for i in range(n)]
    shadow = [3.0 if i % 2 else -1.0 for i in range(n)]
    c = _compared(_pairs(targets, champion, shadow))
    assert c.champion_mae == pytest.approx(2.0) and c.shadow_mae == pytest.approx(2.0)
    low, diff, high = _known_interval(c)
    assert diff == pytest.approx(0.0) and low < 0 < high
    assert "no clear difference" in c.words()


def test_one_pair_has_errors_but_no_interval() -> None:
    c = _compared(_pairs([4.0], [-2.0], [1.0]))
    assert (c.pairs, c.champion_mae, c.shadow_mae) == (1, 2.0, 1.0)
    assert c.diff == pytest.approx(-1.0)
    assert c.diff_low is None and c.diff_high is None
    assert "no interval: fewer than 2 pairs" in c.words()


def test_no_pairs_leave_every_number_unknown() -> None:
    c = _compared(_pairs([], [], []), shadow_rows=30)
    assert (c.pairs, c.shadow_rows) == (0, 30)
    numbers = (c.champion_mae, c.shadow_mae, c.diff, c.diff_low, c.diff_high)
    assert numbers == (None,) * 5
    assert (c.champion_coverage, c.shadow_coverage) == (None, None)
    assert "no paired outcomes yet (30 predictions answered)" in c.words()
    # Unknown numbers are no tags and no metrics; who, how many and when always are.
    always = {Tag.LIVE_CHAMPION_VERSION, Tag.LIVE_PAIRS, Tag.LIVE_MEASURED_AT}
    assert set(live_tags(c, "now")) == always
    assert metrics(c) == {"shadow_pairs": 0.0, "shadow_rows": 30.0}


def test_the_report_forms_escape_and_place_the_section() -> None:
    c = _compared(_pairs([4.0, 2.0], [-2.0, 1.0], [1.0, 0.0]))
    page = shadow_report.with_html_section("<html><body><p>evidently</p></body></html>", c)
    assert page.index("evidently") < page.index('id="fleetcast-shadow"') < page.index("</body>")
    assert shadow_report.with_html_section("<p>x</p>", None) == "<p>x</p>"
    assert shadow_report.summary_lines(None) == [] and shadow_report.markdown_section(None) == ""
    assert shadow_report.summary_lines(c)[0] == c.words()
    assert "| shadow | v2 | 0.500 |" in shadow_report.markdown_section(c)


def test_pairs_are_the_requests_this_champion_and_this_shadow_both_answered() -> None:
    """Of six logged groups of requests, only the first pairs: the others were served by
    another champion, scored by another shadow or by none, failed in the shadow, or have no
    label."""
    features = pl.DataFrame({name: [1.0] * 2 for name in FEATURE_NAMES})
    groups = [
        (1, "1", ("2", [3.0, 4.0])),  # paired
        (3, "7", ("2", [3.0, 4.0])),  # another champion
        (5, "1", ("9", [3.0, 4.0])),  # another shadow
        (7, "1", None),  # no shadow
        (9, "1", ("2", [None, None])),  # the shadow failed on that batch
        (11, "1", ("2", [3.0, 4.0])),  # vehicles without a label
    ]
    logged = pl.concat(
        log_rows(features, T, [2.0, 2.0], version, [first, first + 1], ([1, 1], [3, 3]), shadow)
        for first, version, shadow in groups
    )
    labels = pl.DataFrame({ENTITY: list(range(1, 11)), TARGET: [5] * 10})
    inputs = OutcomeInputs("s", with_served_as_of(logged, []), labels, T + dt.timedelta(days=1))
    pairs = shadow_pairs(inputs, "1", "2")
    assert sorted(pairs[ENTITY].to_list()) == [1, 2]
    assert pairs[TARGET].to_list() == [5.0, 5.0]
    c = _compared(pairs)
    assert c.champion_mae == pytest.approx(3.0) and c.shadow_mae == pytest.approx(1.5)


def test_no_shadow_or_a_snapshot_window_measures_nothing() -> None:
    champion = Champion("1", None, "s", 2.0, 0.8, None)
    rows = pl.DataFrame({ENTITY: [1]})
    snapshot = Current("snapshot", "snapshot s", rows)
    predictions = Current("predictions", "predictions since then", rows)
    assert measure_shadow.fn(Settings(), snapshot, champion, "2") is None
    assert measure_shadow.fn(Settings(), predictions, champion, None) is None


def _logged_with_a_shadow(settings: Settings, shadow_version: str) -> pl.DataFrame:
    """What the service would have logged a day ago for every labeled vehicle of the shipped
    snapshot (served before that snapshot was built: each meets its label): champion errors
    of 1 and 3, the shadow's of 0 and 1, half the ranges covering. Plus 50 requests by
    attributes (no vehicle, so no outcome) the shadow answered, and 100 it did not."""
    labeled = scan_snapshot(settings).filter(pl.col(TARGET).is_not_null()).collect()
    labeled = labeled.head(labeled.height - labeled.height % 2)  # as many 1s as 3s
    targets = labeled[TARGET].cast(pl.Float64).to_list()
    yesterday = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(days=1)
    n = len(targets)
    champion = [t + (1.0 if i % 2 else -3.0) for i, t in enumerate(targets)]
    shadow = [t + (0.0 if i % 2 else 1.0) for i, t in enumerate(targets)]
    low = [int(t) - 1 if i % 2 else int(t) + 5 for i, t in enumerate(targets)]
    ids = labeled[ENTITY].to_list()
    bounds = (low, [v + 2 for v in low])
    paired = log_rows(labeled, yesterday, champion, "1", ids, bounds, (shadow_version, shadow))
    anonymous = labeled.head(50)
    by_attributes = log_rows(
        anonymous, yesterday, [1.0] * 50, "1", [None] * 50, shadow=(shadow_version, [1.0] * 50)
    )
    unshadowed = log_rows(labeled.head(100), yesterday, [1.0] * 100, "1", ids[:100])
    assert n > 200  # enough to judge, and a narrow interval
    return pl.concat([paired, by_attributes, unshadowed])


def _register_challenger(settings: Settings) -> str:
    """A second version of the champion's model, at `challenger`."""
    client, _ = model_registry.connect(settings)
    champion = client.get_model_version_by_alias(settings.registered_model, CHAMPION)
    return register_copy(settings, champion, alias=CHALLENGER)


def _live_tags(settings: Settings, version: str) -> dict[str, str]:
    client, _ = model_registry.connect(settings)
    tags = client.get_model_version(settings.registered_model, version).tags
    return {key: value for key, value in tags.items() if key in LIVE_TAGS}


@pytest.mark.integration
@pytest.mark.slow
def test_the_drift_flow_measures_the_shadow_and_writes_its_live_evidence(
    drift_settings: Settings,
) -> None:
    shadow_version = _register_challenger(drift_settings)
    assert shadow_version != "1"
    logged = _logged_with_a_shadow(drift_settings, shadow_version)
    write_log(drift_settings, logged)
    pairs = logged.height - 150
    result = drift_flow()
    live = result.shadow
    assert live is not None and live.shadow_version == shadow_version
    assert (live.champion_version, live.pairs, live.shadow_rows) == ("1", pairs, pairs + 50)
    assert live.champion_mae == pytest.approx(2.0) and live.shadow_mae == pytest.approx(0.5)
    low, diff, high = _known_interval(live)
    assert diff == pytest.approx(-1.5) and low < diff < high < 0
    assert live.champion_coverage == live.shadow_coverage == pytest.approx(0.5)
    # The champion's own outcomes count its unshadowed requests too; the verdict ignores the
    # shadow.
    assert result.outcome_rows == pairs + 100 and result.decided and not result.detected
    assert "shadow" not in result.message
    _assert_tagged(drift_settings, live)
    _assert_reported(drift_settings, result)


def _assert_tagged(settings: Settings, live: LiveComparison) -> None:
    """The comparison is on the shadow's version, every number exact; none on the champion."""
    tags = _live_tags(settings, live.shadow_version)
    assert set(tags) == set(LIVE_TAGS)
    assert tags[Tag.LIVE_CHAMPION_VERSION] == "1" and tags[Tag.LIVE_PAIRS] == str(live.pairs)
    assert float(tags[Tag.LIVE_MAE]) == live.shadow_mae
    assert float(tags[Tag.LIVE_CHAMPION_MAE]) == live.champion_mae
    assert float(tags[Tag.LIVE_DIFF]) == live.diff
    assert float(tags[Tag.LIVE_DIFF_LOW]) == live.diff_low
    assert float(tags[Tag.LIVE_DIFF_HIGH]) == live.diff_high
    assert float(tags[Tag.LIVE_COVERAGE]) == live.shadow_coverage
    assert float(tags[Tag.LIVE_CHAMPION_COVERAGE]) == live.champion_coverage
    assert dt.datetime.fromisoformat(tags[Tag.LIVE_MEASURED_AT])
    assert _live_tags(settings, "1") == {}


def _assert_reported(settings: Settings, result: DriftResult) -> None:
    """The comparison in the HTML report, its JSON, the MLflow drift run and the printed lines."""
    assert result.shadow is not None
    live = result.shadow
    html = Path(str(result.report_path)).read_text()
    assert html.count('id="fleetcast-shadow"') == 1
    assert html.index('id="fleetcast-shadow"') < html.lower().rindex("</body>")
    stored = json.loads(Path(str(result.numbers_path)).read_text())
    assert stored["shadow"]["shadow_version"] == live.shadow_version
    assert stored["shadow"]["diff"] == pytest.approx(live.diff)
    client, experiment_id = model_registry.connect(settings, settings.drift_experiment)
    run = client.get_run(str(result.mlflow_run_id))
    assert run.info.experiment_id == experiment_id
    assert run.data.metrics["shadow_mae"] == pytest.approx(live.shadow_mae)
    assert run.data.metrics["shadow_champion_mae"] == pytest.approx(live.champion_mae)
    assert run.data.metrics["shadow_mae_diff"] == pytest.approx(live.diff)
    assert run.data.metrics["shadow_mae_diff_high"] == pytest.approx(live.diff_high)
    assert run.data.metrics["shadow_pairs"] == live.pairs
    assert live.words() in summary_lines(result)
    assert "## Shadow vs champion, on the same requests" in markdown(result)


@pytest.mark.integration
@pytest.mark.slow
def test_without_a_distinct_challenger_nothing_is_measured_or_tagged(
    drift_settings: Settings,
) -> None:
    """No `challenger`, then one at the champion itself: no comparison, no LIVE tags; and
    `make_report` shows a shadow's comparison but never writes its tags."""
    logged = _logged_with_a_shadow(drift_settings, "2")  # logged by a shadow since cleared
    write_log(drift_settings, logged)
    assert resolve_shadow.fn(drift_settings, "1") is None
    result = drift_flow()
    assert result.decided and result.shadow is None
    assert 'id="fleetcast-shadow"' not in Path(str(result.report_path)).read_text()
    assert json.loads(Path(str(result.numbers_path)).read_text())["shadow"] is None
    client, _ = model_registry.connect(drift_settings)
    name = drift_settings.registered_model
    client.set_registered_model_alias(name, CHALLENGER, "1")
    assert resolve_shadow.fn(drift_settings, "1") is None
    assert _live_tags(drift_settings, "1") == {}
    shadow_version = _register_challenger(drift_settings)
    assert shadow_version == "2" and resolve_shadow.fn(drift_settings, "1") == "2"
    on_demand = make_report(drift_settings)
    assert on_demand.shadow is not None and on_demand.shadow.diff == pytest.approx(-1.5)
    assert 'id="fleetcast-shadow"' in Path(str(on_demand.report_path)).read_text()
    assert _live_tags(drift_settings, "2") == {}  # only the flow writes live evidence
