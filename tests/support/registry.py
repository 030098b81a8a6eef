"""Registering versions for promotion tests: copies of a trained model with edited lineage,
or deliberately bad models, all through the real MLflow store."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import mlflow
from prefect.events.clients import get_events_subscriber
from prefect.events.filters import EventFilter, EventNameFilter, EventOccurredFilter
from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import KFold, cross_val_predict

from features.contract.events import MODEL_PROMOTED, PROMOTED_VERSION, model_resource
from features.contract.intervals import calibrate
from features.contract.registry import CANDIDATE, CHAMPION, training_tags
from features.settings import Settings
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from flows.evaluation import feature_frame, split_labeled, target
from flows.train import tracking

# Tags a promotion decision writes: not lineage, so a copy must not inherit its source's.


def trained_version(settings: Settings, source_model: str, version: str) -> Any:
    """A version of the pipeline's own registered model (the real trained one)."""
    client, _ = model_registry.connect(settings)
    return client.get_model_version(source_model, version)


def register_copy(
    settings: Settings, source: Any, alias: str = CANDIDATE, **tag_changes: str | None
) -> str:
    """Register `source`'s model again under the test's name, with tags edited (None deletes)."""
    client, _ = model_registry.connect(settings)
    edited = training_tags(source.tags) | tag_changes
    tags = {k: v for k, v in edited.items() if v is not None}
    version = mlflow.register_model(source.source, settings.registered_model, tags=tags).version
    client.set_registered_model_alias(settings.registered_model, alias, version)
    return str(version)


def register_fitted(
    settings: Settings, source: Any, model: RegressorMixin, name: str, alias: str = CANDIDATE
) -> str:
    """`model` fitted on the latest snapshot's training rows and calibrated on its own
    out-of-fold predictions (as training does), registered with valid lineage from `source`."""
    client, experiment_id = model_registry.connect(settings)
    rows = split_labeled(scan_snapshot(settings).collect(), settings.holdout_percent).train
    features, labels = feature_frame(rows), target(rows)
    folds = KFold(settings.cv_folds, shuffle=True, random_state=settings.seed)
    out_of_fold = cross_val_predict(model, features, labels, cv=folds)
    calibration = calibrate(labels, out_of_fold, settings.interval_level)
    model.fit(features, labels)
    run_id = client.create_run(experiment_id, run_name=name).info.run_id
    uri = tracking.log_model(client, run_id, model, tracking.ModelArtifacts(features, onnx=None))
    client.set_terminated(run_id)
    tags = training_tags(source.tags) | calibration.tags()
    version = mlflow.register_model(uri, settings.registered_model, tags=tags).version
    client.set_registered_model_alias(settings.registered_model, alias, version)
    return str(version)


def register_constant(
    settings: Settings, source: Any, constant: float, alias: str = CHAMPION
) -> str:
    """A model predicting `constant` for every vehicle, with valid lineage copied from `source`."""
    model = DummyRegressor(strategy="constant", constant=constant)
    return register_fitted(settings, source, model, f"constant-{constant}", alias)


def register_broken(settings: Settings, source: Any, folder: Path) -> str:
    """A version whose files are there but whose model is not a pickle: it fails to load."""
    # The store named, not the process-wide one (a drained test may have moved FLEETCAST_HOME).
    store = settings.tracking_uri
    local = mlflow.artifacts.download_artifacts(
        source.source, tracking_uri=store, registry_uri=store
    )
    broken = Path(shutil.copytree(local, folder / "broken-model"))
    (broken / "model.pkl").write_bytes(b"not a pickle")
    client, _ = model_registry.connect(settings)
    tags = training_tags(source.tags)
    created = client.create_model_version(
        settings.registered_model, broken.as_uri(), run_id=source.run_id, tags=tags
    )
    return str(created.version)


# `version` unset: any version. A client's events are delivered at least once (it resends the
# ones not yet acknowledged when it reconnects), so an earlier event can arrive after this one.
ANY_VERSION = object()


async def first_promotion_event(
    settings: Settings,
    sink: list[Any],
    listening: threading.Event,
    name: str = MODEL_PROMOTED,
    version: object = ANY_VERSION,
) -> None:
    """Append the first `name` event (`fleetcast.model.promoted` unless told) of the settings'
    model to `sink`; with `version`, the first that names it (None: an alias cleared)."""
    wanted = model_resource(settings.registered_model)["prefect.resource.id"]
    # From now on: the server backfills a new subscriber with recent matching events, and an
    # earlier test's (or this test's earlier) event is not the one awaited.
    only_promotions = EventFilter(
        event=EventNameFilter(name=[name]),
        occurred=EventOccurredFilter(since=dt.datetime.now(dt.UTC)),
    )
    async with get_events_subscriber(filter=only_promotions) as subscriber:
        listening.set()
        async with asyncio.timeout(40):
            async for event in subscriber:
                named = event.payload.get(PROMOTED_VERSION)
                if event.resource.id == wanted and version in (ANY_VERSION, named):
                    sink.append(event)
                    return


@contextmanager
def first_promotion_received(
    settings: Settings, name: str = MODEL_PROMOTED, version: object = ANY_VERSION
) -> Iterator[list[Any]]:
    """A real subscriber of the Prefect server, listening before the block runs; after the
    block (up to 30 s more), the list holds the first `name` event (a promotion unless told)
    of the settings' model (naming `version`, if given)."""
    received: list[Any] = []
    listening = threading.Event()
    listener = threading.Thread(
        target=lambda: asyncio.run(
            first_promotion_event(settings, received, listening, name, version)
        ),
        daemon=True,
    )
    listener.start()
    assert listening.wait(20), "the subscriber did not connect within 20 s"
    yield received
    listener.join(30)
