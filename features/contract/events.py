"""Prefect event names and resource ids: the contract between flows and the service."""

FEATURES_MATERIALIZED = "fleetcast.features.materialized"


def snapshot_resource(snapshot_id: str) -> dict[str, str]:
    """The Prefect resource an event about an offline/online snapshot names."""
    return {
        "prefect.resource.id": f"fleetcast.snapshot.{snapshot_id}",
        "prefect.resource.name": snapshot_id,
    }


MODEL_PROMOTED = "fleetcast.model.promoted"


def model_resource(registered_model: str) -> dict[str, str]:
    """The Prefect resource a model-registry event names."""
    return {
        "prefect.resource.id": f"fleetcast.model.{registered_model}",
        "prefect.resource.name": registered_model,
    }


# Resource: `model_resource(registered_model)`, the model whose inputs or error drifted.
DRIFT_DETECTED = "fleetcast.drift.detected"
