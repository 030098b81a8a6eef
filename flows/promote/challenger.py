"""The `challenger` alias: the version every service worker scores as its shadow.

Set when a scored candidate is not promoted (so it keeps being judged, on live traffic), or by
hand (`fleetcast shadow set`); cleared by hand or when it is promoted. Each move emits
`fleetcast.model.challenger`, so every worker loads or unloads its shadow now, not at its next
alias poll.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.events import emit_event

from features.contract.errors import FleetcastError
from features.contract.events import CHALLENGER_SET, model_resource, promotion_payload
from features.contract.registry import CHALLENGER, CHAMPION, Tag
from features.settings import Settings, get_settings
from features.stores import model_registry
from flows.promote.lock import promotion_lock
from flows.tasks import network_step, run_name, step


class ChallengerRefused(FleetcastError, ValueError):
    """The requested version cannot be the challenger (the message says why)."""


def current(settings: Settings) -> str | None:
    """The version at `challenger` now, if any."""
    version = model_registry.version_at_alias(settings, CHALLENGER)
    return None if version is None else str(version.version)


def move(settings: Settings, version: str | None) -> str | None:
    """Point `challenger` at `version` (None: clear it); the version it named before."""
    client, _ = model_registry.connect(settings)
    before = current(settings)
    if version is None:
        if before is not None:
            client.delete_registered_model_alias(settings.registered_model, CHALLENGER)
    else:
        client.set_registered_model_alias(settings.registered_model, CHALLENGER, version)
    return before


def announce(settings: Settings, version: str | None, before: str | None, why: str) -> None:
    """Emit `fleetcast.model.challenger` with the version now at the alias (None: cleared)."""
    emit_event(
        event=CHALLENGER_SET,
        resource=model_resource(settings.registered_model),
        payload=promotion_payload(version, before, reason=why),
    )


@step
def check(settings: Settings, version: str) -> None:
    """A challenger must be a registered version of the model's features, not the champion."""
    from mlflow.exceptions import MlflowException

    client, _ = model_registry.connect(settings)
    name = settings.registered_model
    try:
        target = client.get_model_version(name, version)
    except MlflowException as missing:
        raise ChallengerRefused(f"version: {name} has no version {version!r}") from missing
    if not target.tags.get(Tag.INTERVAL_LEVEL):
        raise ChallengerRefused(f"version: v{version} has no interval calibration to serve")
    champion = model_registry.version_at_alias(settings, CHAMPION)
    if champion is not None and str(champion.version) == version:
        raise ChallengerRefused(f"version: v{version} is the champion; it cannot shadow itself")


@network_step
def set_alias(settings: Settings, version: str | None) -> str | None:
    """Move the alias (under the promotion lock's caller); the version it named before."""
    return move(settings, version)


@step
def publish(settings: Settings, version: str | None, before: str | None, why: str) -> None:
    announce(settings, version, before, why)
    now = f"v{version}" if version else "none"
    was = f"v{before}" if before else "none"
    get_run_logger().info("CHALLENGER: %s -> %s (%s)", was, now, why)


@flow(name="challenger", flow_run_name=run_name("challenger", "version"))
def challenger_flow(version: str | None = None, reason: str = "set by hand") -> str | None:
    """Make `version` the challenger, scored as a shadow by every service worker (None: clear
    the alias and unload the shadows). Returns the version it replaced."""
    settings = get_settings()
    with promotion_lock(settings):
        if version is not None:
            check(settings, str(version))
        before = set_alias(settings, None if version is None else str(version))
    publish(settings, None if version is None else str(version), before, reason)
    return before
