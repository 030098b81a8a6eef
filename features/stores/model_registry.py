"""The one door to MLflow's tracking store and model registry, for flows and service alike.

`mlflow` is imported inside functions: it takes seconds to import, and `fleetcast --help` or a
service worker's import must not pay for it.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING

from features.contract.errors import FleetcastError
from features.contract.registry import CHAMPION
from features.settings import Settings

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

_MLFLOW_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


class NoChampionError(FleetcastError, LookupError):
    """The registered model has no version at `champion` (or one without its lineage)."""


class RegistryUnreachable(FleetcastError, ConnectionError):
    """The MLflow tracking store did not answer: down, or not reachable from here."""

    def __init__(self, cause: BaseException) -> None:
        # Names the failure, not the store's address: this text is shown by GET /model.
        super().__init__(f"the MLflow tracking store is unreachable ({type(cause).__name__})")


class RegistryNotAnswering(FleetcastError, ConnectionError):
    """A tracking server that refuses connections, or accepts them and never answers."""


PROBE_TIMEOUT_S = 10.0  # a healthy server answers /health in milliseconds, a cold one in ~5 s


def check_answers(settings: Settings) -> None:
    """Fail in seconds, before a flow does any work, if the tracking server is down or hung.

    Without this a train run against a hung server fitted for minutes, then blocked on its
    first MLflow request (120 s per try, 7 tries, by MLflow's defaults). A server that answers
    anything at all, an error or an auth challenge included, passes: that is not a hang. A
    refused connection is retried for the probe's timeout: a server restarting is not down.
    """
    uri = settings.tracking_uri
    if not uri.startswith(("http://", "https://")):
        return  # a local SQLite or file store: nothing to hang
    server = _without_credentials(uri)  # any answer will do, a 401 included
    deadline = time.monotonic() + PROBE_TIMEOUT_S
    while (failure := _probe(f"{server.rstrip('/')}/health")) is not None:
        if failure.startswith("accepted") or time.monotonic() >= deadline:
            raise RegistryNotAnswering(
                f"the MLflow tracking server {server} (MLFLOW_TRACKING_URI) {failure}; "
                "nothing was written"
            )
        time.sleep(1.0)


def _probe(url: str) -> str | None:
    """None if `url` answered at all, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError:
        return None
    except TimeoutError:
        return f"accepted the connection but did not answer within {PROBE_TIMEOUT_S:.0f} s"
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            return f"accepted the connection but did not answer within {PROBE_TIMEOUT_S:.0f} s"
        return f"is unreachable: {error.reason}"
    except OSError as error:  # a reset mid-answer
        return f"is unreachable: {error}"


def _without_credentials(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    host = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
    return parts._replace(netloc=host).geturl()


def client(settings: Settings) -> MlflowClient:
    """A client of the configured tracking store and registry (the same URI for both)."""
    import mlflow

    if settings.mlflow_tracking_uri is None:
        settings.mlflow_dir.mkdir(parents=True, exist_ok=True)
    _point_mlflow_at(settings.tracking_uri)
    return mlflow.MlflowClient(settings.tracking_uri, settings.tracking_uri)


def connect(settings: Settings, experiment_name: str | None = None) -> tuple[MlflowClient, str]:
    """A client and the id of the experiment (default the training runs'; created if missing)."""
    from mlflow.exceptions import MlflowException

    name = experiment_name or settings.mlflow_experiment
    store = client(settings)
    experiment = store.get_experiment_by_name(name)
    if experiment is not None:
        return store, experiment.experiment_id
    # The default SQLite store would put artifacts in ./mlruns of whatever the cwd is.
    location = None
    if settings.mlflow_tracking_uri is None:
        location = (settings.mlflow_dir / "artifacts").as_uri()
    try:
        return store, store.create_experiment(name, location)
    except MlflowException:  # created meanwhile by a concurrent run
        created = store.get_experiment_by_name(name)
        if created is None:
            raise
        return store, created.experiment_id


def _ui(settings: Settings) -> str | None:
    """The MLflow UI's address when the tracking store is a server a browser can open (an
    `http(s)://` URI); None for a local store, which has no UI until one is started."""
    uri = settings.tracking_uri
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else None


def run_url(settings: Settings, experiment_id: str, run_id: str) -> str | None:
    """A run's page in the MLflow UI (None without a tracking server)."""
    ui = _ui(settings)
    return f"{ui}/#/experiments/{experiment_id}/runs/{run_id}" if ui else None


def version_url(settings: Settings, version: str | None) -> str | None:
    """A registered model version's page in the MLflow UI (None without a tracking server)."""
    ui = _ui(settings)
    name = settings.registered_model
    return f"{ui}/#/models/{name}/versions/{version}" if ui and version else None


def linked(text: str, url: str | None) -> str:
    """`text` as a markdown link where there is a page to open, else as it is."""
    return f"[{text}]({url})" if url else text


def version_at_alias(settings: Settings, alias: str) -> ModelVersion | None:
    """The registered model's version at `alias`; None if there is none.

    Raises RegistryUnreachable when the store does not answer: that is not "no version".
    """
    from mlflow.exceptions import MlflowException

    try:
        return client(settings).get_model_version_by_alias(settings.registered_model, alias)
    except MlflowException as error:
        if (network := unreachable_cause(error)) is not None:
            raise RegistryUnreachable(network) from error
        return None  # no registered model yet, or no version has the alias


def version_tags(settings: Settings) -> list[tuple[str, dict[str, str]]]:
    """Every version of the registered model with its tags (none: an empty list).

    Raises RegistryUnreachable when the store does not answer.
    """
    from mlflow.exceptions import MlflowException

    try:
        query = f"name = '{settings.registered_model}'"
        versions = client(settings).search_model_versions(query)
    except MlflowException as error:
        if (network := unreachable_cause(error)) is not None:
            raise RegistryUnreachable(network) from error
        raise
    return [(str(v.version), dict(v.tags)) for v in versions]


def champion(settings: Settings) -> ModelVersion:
    """The version at `champion` now; NoChampionError if there is none."""
    version = version_at_alias(settings, CHAMPION)
    if version is None:
        raise NoChampionError(
            f"{settings.registered_model} has no {CHAMPION!r} version: run the pipeline first"
        )
    return version


def unreachable_cause(error: BaseException) -> BaseException | None:
    """The network error behind `error` (MLflow wraps it, often only as __context__), if any."""
    import requests

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, requests.exceptions.RequestException):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _point_mlflow_at(uri: str) -> None:
    """Set MLflow's process-wide store for its fluent API, without touching the environment.

    MLflow 3 also exports the URIs to os.environ, where Settings reads MLFLOW_TRACKING_URI:
    the first store used would then silently stick to every later Settings in this process.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in _MLFLOW_URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
