"""Rollback: a former champion comes back under the promotion lock, audited on both versions,
announced with the promotion event; anything else is refused with the alias untouched."""

from __future__ import annotations

import pytest
from conftest import TrainedStore
from support.registry import first_promotion_received, register_copy, trained_version

from features.contract.registry import CANDIDATE, CHAMPION, Tag
from features.settings import Settings
from features.stores import model_registry
from flows.promote.rollback import RollbackRefused, rollback_flow

pytestmark = pytest.mark.integration


@pytest.fixture
def history(trained_store: TrainedStore, model_settings: Settings) -> dict[str, str]:
    """v1 was champion, v2 replaced it and is champion now, v3 is a candidate never promoted."""
    source = trained_version(
        model_settings,
        trained_store.settings.registered_model,
        trained_store.result.trained.version,
    )
    v1 = register_copy(model_settings, source, CHAMPION, **{Tag.PROMOTED_AT: "2026-01-01T00:00:00"})
    v2 = register_copy(model_settings, source, CHAMPION, **{Tag.PROMOTED_AT: "2026-02-01T00:00:00"})
    v3 = register_copy(model_settings, source, CANDIDATE)
    return {"former": v1, "champion": v2, "never": v3}


def _version(settings: Settings, alias: str) -> str:
    client, _ = model_registry.connect(settings)
    return str(client.get_model_version_by_alias(settings.registered_model, alias).version)


def _tags(settings: Settings, version: str) -> dict[str, str]:
    client, _ = model_registry.connect(settings)
    return client.get_model_version(settings.registered_model, version).tags


def test_a_former_champion_is_restored_audited_and_announced(
    model_settings: Settings, history: dict[str, str]
) -> None:
    with first_promotion_received(model_settings) as received:
        done = rollback_flow(version=history["former"], reason="v2 over-predicts downtown")
    assert _version(model_settings, CHAMPION) == history["former"]
    assert (done.version, done.replaced_version) == (history["former"], history["champion"])
    restored = _tags(model_settings, history["former"])
    assert restored[Tag.RESTORED_REASON] == "v2 over-predicts downtown"
    assert restored[Tag.RESTORED_FROM] == history["champion"]
    assert (
        _tags(model_settings, history["champion"])[Tag.ROLLED_BACK_AT] == restored[Tag.RESTORED_AT]
    )
    assert received, "no fleetcast.model.promoted event: the service would wait for its poll"
    assert received[0].payload["version"] == history["former"]
    assert received[0].payload["rollback"] is True


@pytest.mark.parametrize(
    ("target", "reason", "says"),
    [
        ("never", "bad", "never promoted"),
        ("champion", "bad", "already the champion"),
        ("missing", "bad", "has no version '999'"),
        ("former", "  ", "reason: say why"),
    ],
)
def test_anything_but_a_former_champion_is_refused(
    model_settings: Settings, history: dict[str, str], target: str, reason: str, says: str
) -> None:
    version = history.get(target, "999")
    with pytest.raises(RollbackRefused, match=says):
        rollback_flow(version=version, reason=reason)
    assert _version(model_settings, CHAMPION) == history["champion"]
    assert Tag.RESTORED_AT not in _tags(model_settings, history["former"])
