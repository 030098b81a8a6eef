"""`fleetcast shadow set|clear` against the real MLflow store and Prefect server: the alias moves,
the event every worker follows is emitted, and a version that cannot shadow is one line."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import TrainedStore
from support.registry import first_promotion_received, register_copy, trained_version
from typer.testing import CliRunner

from features.contract.events import CHALLENGER_SET, PROMOTED_VERSION
from features.contract.registry import CHALLENGER, CHAMPION, Tag
from features.settings import Settings
from features.stores import model_registry
from flows.cli.app import app

pytestmark = pytest.mark.integration
runner = CliRunner()


@pytest.fixture
def real(trained_store: TrainedStore, model_settings: Settings) -> Any:
    source = trained_store.settings.registered_model
    return trained_version(model_settings, source, trained_store.result.trained.version)


def _challenger(settings: Settings) -> str | None:
    version = model_registry.version_at_alias(settings, CHALLENGER)
    return None if version is None else str(version.version)


def _refusal(*args: str) -> str:
    result = runner.invoke(app, ["shadow", *args])
    assert result.exit_code == 1, result.output
    return result.output.strip().splitlines()[-1]


def test_set_then_clear_moves_the_alias_and_announces_each_move(
    model_settings: Settings, real: Any
) -> None:
    register_copy(model_settings, real, alias=CHAMPION)
    shadow = register_copy(model_settings, real, alias="spare")
    with first_promotion_received(model_settings, CHALLENGER_SET) as received:
        result = runner.invoke(app, ["shadow", "set", shadow, "--reason", "try it live"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith(f"challenger: none -> v{shadow}")
    assert _challenger(model_settings) == shadow
    assert received, "no fleetcast.model.challenger event reached a subscriber"
    payload = received[0].payload
    assert payload[PROMOTED_VERSION] == shadow and payload["reason"] == "try it live"
    with first_promotion_received(model_settings, CHALLENGER_SET, version=None) as cleared:
        result = runner.invoke(app, ["shadow", "clear"])
    assert result.exit_code == 0 and result.output.strip().endswith(f"v{shadow} -> none")
    assert _challenger(model_settings) is None
    assert cleared and cleared[0].payload[PROMOTED_VERSION] is None
    assert cleared[0].payload["previous_version"] == shadow


def test_a_version_that_cannot_shadow_is_refused_in_one_line_and_moves_nothing(
    model_settings: Settings, real: Any
) -> None:
    champion = register_copy(model_settings, real, alias=CHAMPION)
    shadow = register_copy(model_settings, real, alias="spare")
    uncalibrated = register_copy(model_settings, real, alias="other", **{Tag.INTERVAL_LEVEL: None})
    assert runner.invoke(app, ["shadow", "set", shadow]).exit_code == 0
    name = model_settings.registered_model
    assert _refusal("set", "99") == f"error: version: {name} has no version '99'"
    assert _refusal("set", champion) == (
        f"error: version: v{champion} is the champion; it cannot shadow itself"
    )
    assert _refusal("set", uncalibrated) == (
        f"error: version: v{uncalibrated} has no interval calibration to serve"
    )
    assert _challenger(model_settings) == shadow  # every refusal left the alias where it was
