"""Rollback flow: put a former champion back, by hand, with the same lock, audit and event as a
promotion, so every serving worker swaps at once instead of at its next alias poll."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.events import emit_event

from features.contract import clock
from features.contract.errors import FleetcastError
from features.contract.events import MODEL_PROMOTED, model_resource, promotion_payload
from features.contract.registry import CHAMPION, Tag, as_tags
from features.settings import Settings, get_settings
from features.stores import model_registry
from flows.promote.lock import promotion_lock
from flows.tasks import network_step, run_name, step


class RollbackRefused(FleetcastError, ValueError):
    """The requested version cannot be put back (the message says why)."""


@dataclass(frozen=True)
class Rollback:
    """One rollback, as tagged in MLflow, shown in Prefect and announced."""

    registered_model: str
    version: str
    replaced_version: str | None
    reason: str
    rolled_back_at: str


@step
def check_target(settings: Settings, version: str) -> str | None:
    """The current champion's version, once `version` is known to have been a champion."""
    from mlflow.exceptions import MlflowException

    client, _ = model_registry.connect(settings)
    name = settings.registered_model
    try:
        target = client.get_model_version(name, version)
    except MlflowException as missing:
        raise RollbackRefused(f"version: {name} has no version {version!r}") from missing
    if not target.tags.get(Tag.PROMOTED_AT):
        raise RollbackRefused(
            f"version: v{version} of {name} was never promoted; only a former champion can be "
            "put back (a new model goes through train and promote)"
        )
    champion = model_registry.version_at_alias(settings, CHAMPION)
    if champion is not None and str(champion.version) == str(version):
        raise RollbackRefused(f"version: v{version} is already the champion of {name}")
    return str(champion.version) if champion is not None else None


@network_step
def move_champion(settings: Settings, rollback: Rollback) -> None:
    """Move `champion`, then tag both versions (the MLflow side of the audit)."""
    client, _ = model_registry.connect(settings)
    name = settings.registered_model
    client.set_registered_model_alias(name, CHAMPION, rollback.version)
    restored = as_tags(
        {
            Tag.RESTORED_AT: rollback.rolled_back_at,
            Tag.RESTORED_REASON: rollback.reason,
            Tag.RESTORED_FROM: rollback.replaced_version,
        }
    )
    for key, value in restored.items():
        client.set_model_version_tag(name, rollback.version, key, value)
    if rollback.replaced_version is not None:
        client.set_model_version_tag(
            name, rollback.replaced_version, Tag.ROLLED_BACK_AT, rollback.rolled_back_at
        )


@step
def announce(rollback: Rollback) -> None:
    """The promotion event: the service's workers reload the alias on it."""
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(rollback.registered_model),
        payload=promotion_payload(
            rollback.version, rollback.replaced_version, rollback=True, reason=rollback.reason
        ),
    )
    row = (
        rollback.registered_model,
        f"v{rollback.version}",
        f"v{rollback.replaced_version}",
        rollback.reason,
        rollback.rolled_back_at,
    )
    create_markdown_artifact(
        key="rollback",
        markdown="| registered model | restored | replaced | reason | at |\n"
        "|---|---|---|---|---|\n| " + " | ".join(row) + " |",
    )
    get_run_logger().info(
        "ROLLED BACK: champion v%s -> v%s (%s)",
        rollback.replaced_version,
        rollback.version,
        rollback.reason,
    )


@flow(name="rollback", flow_run_name=run_name("rollback", "version"))
def rollback_flow(version: str, reason: str) -> Rollback:
    """Make former champion `version` the champion again (under the promotion lock, so no
    promote run interleaves), tag both versions with the reason, and emit
    `fleetcast.model.promoted` so the service swaps now."""
    if not reason.strip():
        raise RollbackRefused("reason: say why the champion is rolled back (it is audited)")
    settings = get_settings()
    model_registry.check_answers(settings)  # not while holding the promotion slot
    with promotion_lock(settings):
        replaced = check_target(settings, str(version))
        rollback = Rollback(
            registered_model=settings.registered_model,
            version=str(version),
            replaced_version=replaced,
            reason=reason.strip(),
            rolled_back_at=clock.stamp(),
        )
        move_champion(settings, rollback)
    announce(rollback)
    return rollback
