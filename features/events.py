"""Prefect event names and resource ids: the contract between flows and the service."""

FEATURES_MATERIALIZED = "fleetcast.features.materialized"


def snapshot_resource(snapshot_id: str) -> dict[str, str]:
    """The Prefect resource an event about an offline/online snapshot names."""
    return {
        "prefect.resource.id": f"fleetcast.snapshot.{snapshot_id}",
        "prefect.resource.name": snapshot_id,
    }
