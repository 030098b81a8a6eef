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
from support.registry import (
    first_promotion_received,
    lineage_only,
    register_constant,
    register_copy,
    trained_version,
)

from features.contract.events import model_resource
from features.contract.registry import CANDIDATE, CHAMPION, Tag
from features.settings import Settings
from features.stores import model_registry
from flows.promote.contenders import champion_history
from flows.promote.decision import Promotion
from flows.promote.flow import promote_flow
from flows.train.flow import train_flow

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


def test_a_worse_candidate_keeps_the_champion(model_settings: Settings, real: Any) -> None:
    register_copy(model_settings, real, alias=CHAMPION)
    # A weaker family on the shipped data, registered as candidate: boosting's holdout MAE is
    # ~4% above the champion's (the Poisson GLM's is below it: the demand is log-linear).
    weaker = train_flow(families=["hist_gradient_boosting"])
    promotion = promote_flow()
    assert not promotion.promoted and "worse than the champion" in promotion.reason
    assert _aliases(model_settings)[CHAMPION] != weaker.version
    assert _tags(model_settings, weaker.version)[Tag.DECISION] == "rejected"
    assert CANDIDATE not in _aliases(model_settings)  # a refused model is not left waiting
    client, _ = model_registry.connect(model_settings)
    described = client.get_model_version(model_settings.registered_model, weaker.version)
    assert "**rejected**" in described.description and promotion.reason in described.description


def test_a_tie_keeps_the_champion(model_settings: Settings, real: Any) -> None:
    champion = register_copy(model_settings, real, alias=CHAMPION)
    register_copy(model_settings, real)  # the same model again, a new version
    promotion = promote_flow()
    assert not promotion.promoted and "tie keeps the champion" in promotion.reason
    assert _aliases(model_settings)[CHAMPION] == champion


def test_better_but_under_the_margin_keeps_the_champion(
    model_settings: Settings, real: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLEETCAST_PROMOTION_MARGIN", "0.9")
    champion = register_constant(model_settings, real, constant=12.0)
    register_copy(model_settings, real)
    promotion = promote_flow()
    assert not promotion.promoted and "under the margin 90.00%" in promotion.reason
    assert _aliases(model_settings)[CHAMPION] == champion


def test_better_by_the_margin_promotes_and_records_the_audit(
    model_settings: Settings, real: Any
) -> None:
    old = register_constant(model_settings, real, constant=12.0)
    new = register_copy(model_settings, real)
    promotion = promote_flow()
    assert promotion.promoted and "better (margin 1.00%)" in promotion.reason
    assert _aliases(model_settings)[CHAMPION] == new
    tags = _tags(model_settings, new)
    assert tags[Tag.DECISION] == "promoted" and tags[Tag.REPLACED_VERSION] == old
    assert float(tags[Tag.holdout("mae")]) == pytest.approx(promotion.candidate_scores["mae"])
    assert float(tags["fleetcast.champion_holdout_mae"]) > float(tags[Tag.holdout("mae")])
    assert [entry["version"] for entry in champion_history(model_settings)] == [new]
    assert _decision_artifact(promotion).startswith("# Promoted")


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
        tags=lineage_only(real.tags),
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
