"""Promote flow against the real MLflow store and Prefect server: the rule matrix, the lock,
the audit trail and the event. Each test works on its own registered-model name."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mlflow
import pytest
from conftest import TrainedStore
from prefect.client.orchestration import get_client
from sklearn.tree import DecisionTreeRegressor
from support.registry import (
    first_promotion_received,
    register_constant,
    register_copy,
    register_fitted,
    trained_version,
)

from features.contract.events import model_resource
from features.contract.registry import (
    CANDIDATE,
    CHALLENGER,
    CHAMPION,
    TAG_PRECISION,
    Tag,
    training_tags,
)
from features.settings import Settings
from features.stores import model_registry
from flows.promote import slices
from flows.promote.contenders import champion_history
from flows.promote.decision import Promotion
from flows.promote.flow import promote_flow

pytestmark = pytest.mark.integration


@pytest.fixture
def real(trained_store: TrainedStore, model_settings: Settings) -> Any:
    """The version the pipeline trained on the shipped data (in the shared registry)."""
    source = trained_store.settings.registered_model
    return trained_version(model_settings, source, trained_store.result.trained.version)


def _aliases(settings: Settings) -> dict[str, str]:
    client, _ = model_registry.connect(settings)
    aliases = client.get_registered_model(settings.registered_model).aliases
    return {alias: str(version) for alias, version in aliases.items()}


def _tags(settings: Settings, version: str) -> dict[str, str]:
    client, _ = model_registry.connect(settings)
    return client.get_model_version(settings.registered_model, version).tags


def test_the_pipeline_promoted_its_first_model_well_above_the_baseline(
    trained_store: TrainedStore,
) -> None:
    promotion = trained_store.result.promotion
    assert promotion.promoted and "no champion yet" in promotion.reason
    # The quality bar: at least 10% below the median baseline on the frozen holdout.
    assert promotion.candidate_scores["mae"] <= 0.9 * promotion.baseline_scores["mae"]
    assert _aliases(trained_store.settings)[CHAMPION] == promotion.candidate_version
    # Its intervals keep their level on the holdout (the gate checked; here, the record).
    interval = promotion.candidate_interval
    assert interval is not None and interval.coverage >= interval.level - 0.05


def test_no_champion_promotes_and_a_real_subscriber_receives_the_event(
    model_settings: Settings, real: Any
) -> None:
    version = register_copy(model_settings, real)
    with first_promotion_received(model_settings) as received:
        promotion = promote_flow()
    assert promotion.promoted and promotion.candidate_version == version
    assert _aliases(model_settings)[CHAMPION] == version
    assert received, "the subscriber got no fleetcast.model.promoted event"
    event = received[0]
    assert (
        event.resource.id == model_resource(model_settings.registered_model)["prefect.resource.id"]
    )
    assert event.payload["version"] == version
    assert event.payload["run_id"] == real.run_id
    assert event.payload["holdout"]["mae"] == pytest.approx(promotion.candidate_scores["mae"])


def test_a_clearly_worse_candidate_keeps_the_champion(model_settings: Settings, real: Any) -> None:
    champion = register_copy(model_settings, real, alias=CHAMPION)
    # A one-split tree: better than the median, ~10% worse than the trained model.
    stump = DecisionTreeRegressor(max_depth=1, random_state=model_settings.seed)
    worse = register_fitted(model_settings, real, stump, "stump")
    promotion = promote_flow()
    assert not promotion.promoted, promotion.reason
    assert promotion.reason.endswith("worse than the champion, the champion stays")
    assert promotion.improvement is not None and promotion.improvement.high < 0
    assert _aliases(model_settings)[CHAMPION] == champion
    tags = _tags(model_settings, worse)
    assert tags[Tag.DECISION] == "rejected"
    assert float(tags[Tag.IMPROVEMENT_HIGH]) == pytest.approx(
        promotion.improvement.high, rel=TAG_PRECISION
    )
    assert CANDIDATE not in _aliases(model_settings)  # a refused model is not left waiting
    assert _aliases(model_settings)[CHALLENGER] == worse  # but shadowed, to be judged live
    client, _ = model_registry.connect(model_settings)
    described = client.get_model_version(model_settings.registered_model, worse)
    assert "**rejected**" in described.description and promotion.reason in described.description


def test_a_worse_live_record_refuses_the_challenger_until_live_evidence_is_off(
    model_settings: Settings, real: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Far better on the holdout, but its shadow record says significantly worse live: kept as
    the challenger. Judged again with the live evidence off, the holdout promotes it, and it
    stops being the challenger."""
    champion = register_constant(model_settings, real, constant=12.0)
    worse_live = {
        Tag.LIVE_CHAMPION_VERSION: champion,
        Tag.LIVE_PAIRS: "500",
        Tag.LIVE_DIFF: "0.2",
        Tag.LIVE_DIFF_LOW: "0.1",
        Tag.LIVE_DIFF_HIGH: "0.3",
    }
    shadow = register_copy(model_settings, real, alias=CHALLENGER, **worse_live)
    refused = promote_flow()
    assert refused.candidate_version == shadow and not refused.promoted
    assert "live evidence refuses it" in refused.reason and "significantly worse" in refused.reason
    assert _aliases(model_settings) == {CHAMPION: champion, CHALLENGER: shadow}
    assert _tags(model_settings, shadow)[Tag.DECISION_EVIDENCE].startswith("holdout + live: 500")
    monkeypatch.setenv("FLEETCAST_PROMOTION_LIVE_EVIDENCE", "off")
    promoted = promote_flow()
    assert promoted.promoted and promoted.candidate_version == shadow
    assert _aliases(model_settings) == {CHAMPION: shadow}
    assert _tags(model_settings, shadow)[Tag.DECISION_EVIDENCE] == (
        "holdout only (FLEETCAST_PROMOTION_LIVE_EVIDENCE=off)"
    )


def test_a_tie_keeps_the_champion(model_settings: Settings, real: Any) -> None:
    champion = register_copy(model_settings, real, alias=CHAMPION)
    register_copy(model_settings, real)  # the same model again, a new version
    promotion = promote_flow()
    assert not promotion.promoted and "tie keeps the champion" in promotion.reason
    assert _aliases(model_settings)[CHAMPION] == champion


def test_better_but_not_by_the_minimum_effect_keeps_the_champion(
    model_settings: Settings, real: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETCAST_PROMOTION_MIN_EFFECT", "0.9")
    champion = register_constant(model_settings, real, constant=12.0)
    candidate = register_copy(model_settings, real)
    promotion = promote_flow()
    assert not promotion.promoted
    assert "does not clear the minimum 90.0%: not enough evidence" in promotion.reason
    gain = promotion.improvement
    assert gain is not None and 0 < gain.low < 0.9  # far better, but not by 90%
    assert _aliases(model_settings)[CHAMPION] == champion
    assert float(_tags(model_settings, candidate)[Tag.PROMOTION_MIN_EFFECT]) == 0.9


def test_better_beyond_the_noise_promotes_and_records_the_audit(
    model_settings: Settings, real: Any
) -> None:
    old = register_constant(model_settings, real, constant=12.0)
    new = register_copy(model_settings, real)
    promotion = promote_flow()
    assert promotion.promoted and "its 95% lower bound" in promotion.reason
    assert promotion.reason.endswith("clears the minimum 0.0%")
    assert _aliases(model_settings)[CHAMPION] == new
    tags = _tags(model_settings, new)
    assert tags[Tag.DECISION] == "promoted" and tags[Tag.REPLACED_VERSION] == old
    assert float(tags[Tag.holdout("mae")]) == pytest.approx(
        promotion.candidate_scores["mae"], rel=TAG_PRECISION
    )
    assert float(tags["fleetcast.champion_holdout_mae"]) > float(tags[Tag.holdout("mae")])
    gain, interval = promotion.improvement, promotion.candidate_interval
    assert gain is not None and interval is not None and promotion.champion_interval is not None
    assert (
        float(tags[Tag.IMPROVEMENT_LOW]) == pytest.approx(gain.low, rel=TAG_PRECISION)
        and gain.low > 0
    )
    assert float(tags[Tag.PROMOTION_CONFIDENCE]) == 0.95
    assert float(tags[Tag.HOLDOUT_COVERAGE]) == pytest.approx(interval.coverage, rel=TAG_PRECISION)
    assert [entry["version"] for entry in champion_history(model_settings)] == [new]
    artifact = _decision_artifact(promotion)
    assert artifact.startswith("# Promoted") and "## Holdout by slice" in artifact
    assert "| technology = 0 | " in artifact and "| price_band = <0.9 | " in artifact
    _assert_slice_table_logged(model_settings, promotion)


def test_the_confidence_is_a_setting_and_recorded(
    model_settings: Settings, real: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETCAST_PROMOTION_CONFIDENCE", "0.99")
    monkeypatch.setenv("FLEETCAST_BOOTSTRAP_DRAWS", "500")
    register_constant(model_settings, real, constant=12.0)
    new = register_copy(model_settings, real)
    promotion = promote_flow()
    assert promotion.promoted and "its 99% lower bound" in promotion.reason
    assert "(bootstrap 98% interval [" in promotion.reason
    assert promotion.rule.confidence == 0.99 and promotion.rule.draws == 500
    assert float(_tags(model_settings, new)[Tag.PROMOTION_CONFIDENCE]) == 0.99


def _assert_slice_table_logged(settings: Settings, promotion: Promotion) -> None:
    assert promotion.candidate_run_id and promotion.candidate_version
    path = slices.artifact_path(settings.registered_model, promotion.candidate_version)
    text = mlflow.artifacts.load_text(f"runs:/{promotion.candidate_run_id}/{path}")
    lines = text.splitlines()
    assert (
        lines[0]
        == "feature,value,rows,candidate_mae,champion_mae,candidate_coverage,champion_coverage"
    )
    technology = [line.split(",") for line in lines if line.startswith("technology,")]
    assert sum(int(row[2]) for row in technology) == promotion.holdout_rows


def _decision_artifact(promotion: Promotion) -> str:
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    mine = [a for a in artifacts if str(a.flow_run_id) == promotion.flow_run_id]
    assert [a.key for a in mine] == ["promotion-decision"]
    return str(mine[0].data)


def test_a_candidate_missing_metrics_is_refused(model_settings: Settings, real: Any) -> None:
    version = register_copy(model_settings, real, **{Tag.cv("mae"): None})
    promotion = promote_flow()
    assert not promotion.promoted
    assert (
        f"v{version} refused: missing metrics or lineage tags: {Tag.cv('mae')}" in promotion.reason
    )
    assert CHAMPION not in _aliases(model_settings)


def test_a_candidate_without_interval_calibration_is_refused(
    model_settings: Settings, real: Any
) -> None:
    version = register_copy(model_settings, real, **{Tag.INTERVAL_UPPER: None})
    promotion = promote_flow()
    assert not promotion.promoted
    assert f"v{version} refused: v{version} has no interval calibration" in promotion.reason
    assert Tag.INTERVAL_UPPER in promotion.reason
    assert CHAMPION not in _aliases(model_settings)


def test_a_candidate_whose_intervals_fall_short_is_refused(
    model_settings: Settings, real: Any
) -> None:
    narrow = {Tag.INTERVAL_LOWER: "-0.1", Tag.INTERVAL_UPPER: "0.1"}
    version = register_copy(model_settings, real, **narrow)
    promotion = promote_flow()
    interval = promotion.candidate_interval
    assert not promotion.promoted and interval is not None and interval.coverage < 0.5
    assert promotion.reason == (
        f"candidate v{version} refused: holdout coverage {interval.coverage:.1%} of its 80% "
        "intervals falls short of the level by more than the tolerance of 5 points"
    )
    assert float(_tags(model_settings, version)[Tag.HOLDOUT_COVERAGE]) == interval.coverage
    assert CHAMPION not in _aliases(model_settings)


def test_a_candidate_that_fails_to_load_is_refused(
    model_settings: Settings, real: Any, tmp_path: Path
) -> None:
    broken = Path(shutil.copytree(mlflow.artifacts.download_artifacts(real.source), tmp_path / "m"))
    (broken / "model.pkl").write_bytes(b"not a pickle")
    client, _ = model_registry.connect(model_settings)
    mlflow.register_model(real.source, model_settings.registered_model)  # creates the name
    version = client.create_model_version(
        model_settings.registered_model,
        broken.as_uri(),
        run_id=real.run_id,
        tags=training_tags(real.tags),
    ).version
    client.set_registered_model_alias(model_settings.registered_model, CANDIDATE, version)
    promotion = promote_flow()
    assert not promotion.promoted
    assert f"v{version} refused: failed to load or predict" in promotion.reason


def test_a_stale_candidate_is_refused(model_settings: Settings, real: Any) -> None:
    first = register_copy(model_settings, real)
    register_copy(model_settings, real)  # a newer candidate replaced it
    promotion = promote_flow(candidate_version=first)
    assert (
        not promotion.promoted and f"stale: v{first} is no longer the candidate" in promotion.reason
    )


def test_two_concurrent_promotions_yield_exactly_one_champion(
    model_settings: Settings, real: Any
) -> None:
    register_constant(model_settings, real, constant=12.0)
    candidate = register_copy(model_settings, real)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: promote_flow(), range(2)))
    assert sorted(r.promoted for r in results) == [False, True]
    loser = next(r for r in results if not r.promoted)
    assert "already the champion" in loser.reason
    assert _aliases(model_settings)[CHAMPION] == candidate
    assert [entry["version"] for entry in champion_history(model_settings)] == [candidate]
    assert _tags(model_settings, candidate)[Tag.DECISION] == "promoted"
