"""Prefect event names and resource ids: the contract between flows and the service."""

from __future__ import annotations

from typing import Any

FEATURES_MATERIALIZED = "fleetcast.features.materialized"


def snapshot_resource(snapshot_id: str) -> dict[str, str]:
    """The Prefect resource an event about an offline/online snapshot names."""
    return {
        "prefect.resource.id": f"fleetcast.snapshot.{snapshot_id}",
        "prefect.resource.name": snapshot_id,
    }


MODEL_PROMOTED = "fleetcast.model.promoted"
# The payload key every consumer of MODEL_PROMOTED reads: the version now at `champion`.
PROMOTED_VERSION = "version"


def promotion_payload(version: str | None, previous: str | None, **facts: Any) -> dict[str, Any]:
    """The payload of MODEL_PROMOTED: the new champion, the one it replaced, and other facts."""
    return {PROMOTED_VERSION: version, "previous_version": previous, **facts}


def promoted_version(payload: dict[str, Any]) -> str | None:
    """The version a MODEL_PROMOTED or CHALLENGER_SET payload announces (as text, as the
    registry numbers it); None when it announces none (the challenger cleared)."""
    version = payload.get(PROMOTED_VERSION)
    return None if version is None else str(version)


# The version now at `challenger` (None when cleared), under PROMOTED_VERSION's key: the
# service's workers load it as their shadow, or unload it. Resource: `model_resource`.
CHALLENGER_SET = "fleetcast.model.challenger"


def model_resource(registered_model: str) -> dict[str, str]:
    """The Prefect resource a model-registry event names."""
    return {
        "prefect.resource.id": f"fleetcast.model.{registered_model}",
        "prefect.resource.name": registered_model,
    }


# Resource: `model_resource(registered_model)`, the model whose inputs or error drifted.
DRIFT_DETECTED = "fleetcast.drift.detected"
