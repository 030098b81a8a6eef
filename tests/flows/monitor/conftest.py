"""The drift tests' store: a fresh state folder holding the shipped data's snapshot, and a
champion of the test's own in the session's MLflow registry."""

from __future__ import annotations

import uuid

import pytest
from conftest import TrainedStore
from support.registry import register_copy, trained_version

from features.contract.registry import CHAMPION, Tag
from features.settings import PROJECT_ROOT, Settings
from flows.ingest.flow import ingest_flow
from flows.snapshot.flow import feature_build_flow


@pytest.fixture
def drift_settings(
    flow_settings: Settings, trained_store: TrainedStore, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """A fresh state folder holding the shipped data's snapshot, and a champion of this test's
    own (the pipeline's model) whose lineage names that snapshot."""
    monkeypatch.setenv("FLEETCAST_DATA_DIR", str(PROJECT_ROOT / "data"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_store.settings.tracking_uri)
    monkeypatch.setenv("FLEETCAST_REGISTERED_MODEL", f"test-{uuid.uuid4().hex[:8]}")
    settings = Settings()
    ingest_flow()
    snapshot = feature_build_flow().snapshot
    source = trained_store.settings
    real = trained_version(settings, source.registered_model, trained_store.result.trained.version)
    register_copy(
        settings,
        real,
        alias=CHAMPION,
        **{
            Tag.SNAPSHOT_ID: snapshot.snapshot_id,
            Tag.holdout("mae"): real.tags[Tag.holdout("mae")],
        },
    )
    return settings
