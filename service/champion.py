"""Loading the champion: resolve the alias once, load that exact version, check it, serve it.

Blocking (MLflow and file I/O): the service calls it in a thread, off the event loop. mlflow is
imported inside functions: it costs seconds and the service needs it only when (re)loading.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from features.contract import clock, input_ranges
from features.contract.errors import FleetcastError
from features.contract.formulas import FEATURE_NAMES, feature_matrix
from features.contract.input_ranges import InputRangeError, InputRanges
from features.contract.intervals import Calibration, CalibrationError, from_tags
from features.contract.registry import (
    CHALLENGER,
    METRICS,
    ONNX_ARTIFACT,
    ONNX_INPUT,
    PARITY_TOLERANCE,
    Tag,
    tag_number,
)
from features.contract.schema import EXAMPLE_VEHICLE
from features.settings import Settings
from features.stores import model_registry
from features.stores.model_registry import RegistryUnreachable, unreachable_cause
from features.stores.offline import SnapshotNotFoundError, scan_snapshot

_SMOKE_LISTING = EXAMPLE_VEHICLE


class ChampionError(FleetcastError, RuntimeError):
    """The champion cannot be served (incompatible, or failing its smoke test)."""


@dataclass(frozen=True)
class Served:
    """One loaded version: how to predict with it, the range around each forecast, and what to
    say about it. Swapped whole, so a value and its range always come from the same version."""

    version: str
    run_id: str
    predict: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    calibration: Calibration
    ranges: InputRanges | None  # None: trained before ranges were recorded, nothing checked
    backend: str
    backend_note: str
    tags: dict[str, str]
    loaded_at: str

    def holdout(self) -> dict[str, float]:
        return self.scores(Tag.holdout)

    def scores(self, key: Callable[[str], str]) -> dict[str, float]:
        """The metrics whose tag `key(metric)` the version carries, as numbers."""
        found = {m: tag_number(self.tags, key(m)) for m in METRICS}
        return {m: value for m, value in found.items() if value is not None}

    def holdout_tag(self, key: str) -> float | None:
        """A number the promote flow wrote on the version when it judged it (None if never)."""
        return tag_number(self.tags, key)


# MLflow's HTTP client retries a refused connection 7 times with exponential backoff and waits
# up to 120 s per request: against a dead tracking server one reload attempt blocked 252 s
# (measured), holding the reload lock and any POST /reload. With these, a dead server fails
# an attempt in ~3 s (3 tries, 0 s then ~2 s apart) and a silent one in ~65 s per request.
# The timeout stays long because a just-restarted server took over 5 s to answer its first
# requests here. The environment can still set its own. They bind only this process.
MLFLOW_HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


def bound_mlflow_http() -> None:
    """Cap MLflow's HTTP retries and timeouts for this process, unless already set."""
    for name, bound in MLFLOW_HTTP_BOUNDS.items():
        os.environ.setdefault(name, bound)


def _client(settings: Settings) -> Any:
    bound_mlflow_http()
    return model_registry.client(settings)


def champion_version(settings: Settings) -> Any:
    """The model version the `champion` alias points at now."""
    bound_mlflow_http()
    return model_registry.champion(settings)


def challenger_version(settings: Settings) -> Any | None:
    """The model version the `challenger` alias points at now (None: no shadow)."""
    bound_mlflow_http()
    return model_registry.version_at_alias(settings, CHALLENGER)


def _sklearn_model(settings: Settings, version: Any) -> Any:
    import mlflow.artifacts
    import mlflow.sklearn

    source = version.source
    if source.startswith("models:/"):
        # A logged model (MLflow 3). Resolved through our client: download_artifacts would
        # look a models:/ URI up in the process-wide store, not in `tracking_uri`.
        logged = _client(settings).get_logged_model(source.removeprefix("models:/"))
        source = logged.artifact_location
    local = mlflow.artifacts.download_artifacts(source, tracking_uri=settings.tracking_uri)
    return mlflow.sklearn.load_model(local)


def _onnx_session(settings: Settings, run_id: str) -> Any | None:
    """The run's ONNX export (one intra-op thread), or None if it has none."""
    import mlflow.artifacts
    import onnxruntime as ort
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=ONNX_ARTIFACT, tracking_uri=settings.tracking_uri
        )
    except (MlflowException, OSError) as error:
        if unreachable_cause(error) is not None:
            raise  # a blip, not a missing export: serving scikit-learn for good would be wrong
        return None
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(
        Path(path).read_bytes(), options, providers=["CPUExecutionProvider"]
    )


def _parity_rows(settings: Settings) -> np.ndarray:
    """Rows to check the export on: the latest snapshot if this machine has it, else one."""
    try:
        rows = scan_snapshot(settings).select(pl.col(FEATURE_NAMES).cast(pl.Float64)).collect()
        return rows.to_numpy()
    except SnapshotNotFoundError:
        return feature_matrix([_SMOKE_LISTING])


def _predictor(
    settings: Settings, version: Any
) -> tuple[Callable[[np.ndarray], np.ndarray], str, str]:
    """ONNX when it matches scikit-learn on the parity rows; scikit-learn otherwise."""
    model = _sklearn_model(settings, version)
    names = list(FEATURE_NAMES)

    def with_sklearn(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.predict(pd.DataFrame(x, columns=names)), dtype=np.float64)

    session = _onnx_session(settings, version.run_id)
    if session is None:
        return with_sklearn, "sklearn", "no ONNX export in the run: serving scikit-learn"

    def with_onnx(x: np.ndarray) -> np.ndarray:
        (out,) = session.run(None, {ONNX_INPUT: x.astype(np.float32, copy=False)})
        return out.ravel().astype(np.float64)

    rows = _parity_rows(settings)
    diff = float(np.max(np.abs(with_onnx(rows) - with_sklearn(rows))))
    if not diff <= PARITY_TOLERANCE:
        return with_sklearn, "sklearn", f"ONNX parity failed (max diff {diff:.3g}): scikit-learn"
    return with_onnx, "onnx", f"ONNX, max |onnx - sklearn| {diff:.2g} on {len(rows)} rows"


def load(settings: Settings, version: Any) -> Served:
    """Load one exact version, check its inputs are the contract's and that it predicts sanely."""
    bound_mlflow_http()
    expected = ",".join(FEATURE_NAMES)
    if version.tags.get(Tag.FEATURES) != expected:
        raise ChampionError(f"v{version.version} was trained on other features than the contract's")
    calibration = _calibration(version)
    try:
        ranges = input_ranges.from_tags(dict(version.tags), str(version.version))
    except InputRangeError as error:
        raise ChampionError(str(error)) from error
    try:
        predict, backend, note = _predictor(settings, version)
    except Exception as error:
        if (network := unreachable_cause(error)) is not None:
            raise RegistryUnreachable(network) from error
        raise
    smoke = predict(feature_matrix([_SMOKE_LISTING]))
    if smoke.shape != (1,) or not np.isfinite(smoke).all() or smoke.min() < 0:
        raise ChampionError(f"v{version.version} failed its smoke test: predicted {smoke!r}")
    return Served(
        version=str(version.version),
        run_id=version.run_id,
        predict=predict,
        calibration=calibration,
        ranges=ranges,
        backend=backend,
        backend_note=note,
        tags=dict(version.tags),
        loaded_at=clock.stamp("milliseconds"),
    )


def _calibration(version: Any) -> Calibration:
    """The version's interval calibration: every forecast must carry a range, so a version
    without one is not served (checked before its model is downloaded)."""
    try:
        calibration = from_tags(dict(version.tags), str(version.version))
    except CalibrationError as error:
        raise ChampionError(str(error)) from error
    if not math.isfinite(calibration.upper):  # too few residuals: no whole upper bound
        raise ChampionError(f"v{version.version}: interval calibration has no upper bound")
    return calibration


def worker_pid() -> int:
    return os.getpid()
