"""MLflow: the experiment, the training runs, and the registered model versions.

`mlflow` is imported inside functions: it takes seconds to import and only these steps need it.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass, field
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.contract.formulas import TARGET
from features.contract.registry import CANDIDATE, ONNX_ARTIFACT, as_tags
from features.settings import PROJECT_ROOT, Settings
from features.stores.offline import SnapshotMeta

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from flows.evaluation import FamilyScore

# What the logged model needs to load: exact versions, so MLflow need not infer them.
MODEL_REQUIREMENTS = ("scikit-learn", "numpy", "pandas", "scipy", "cloudpickle")


def git_commit(settings: Settings) -> str:
    """The code's commit: `Settings.git_commit` if set (an image records its build's), else
    git's (`-dirty` if tracked files changed), else `unknown`."""
    if settings.git_commit:
        return settings.git_commit

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{commit}-dirty" if dirty else commit


def _as_text(params: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in params.items()}


def log_fold_metrics(client: MlflowClient, run_id: str, score: FamilyScore) -> None:
    """Per-fold metrics (step = fold) and their mean and spread, in one call."""
    from mlflow.entities import Metric

    stamp = 0
    metrics = [
        Metric(f"fold_{name}", value, stamp, step)
        for step, fold in enumerate(score.folds)
        for name, value in fold.items()
    ]
    for name in score.folds[0]:
        metrics.append(Metric(f"cv_{name}", score.mean(name), stamp, 0))
        metrics.append(Metric(f"cv_{name}_std", score.std(name), stamp, 0))
    metrics.append(Metric("fit_seconds", score.fit_seconds, stamp, 0))
    client.log_batch(run_id, metrics=metrics)


def log_family_run(
    client: MlflowClient,
    experiment_id: str,
    parent_run_id: str,
    score: FamilyScore,
    params: dict[str, Any],
) -> str:
    """One nested run per family: its parameters and every fold's metrics."""
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    run = client.create_run(
        experiment_id, run_name=score.family, tags={MLFLOW_PARENT_RUN_ID: parent_run_id}
    )
    run_id = run.info.run_id
    client.log_batch(run_id, params=params_of(params))
    log_fold_metrics(client, run_id, score)
    client.set_terminated(run_id)
    return run_id


def params_of(params: dict[str, Any]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(key, value[:6000]) for key, value in _as_text(params).items()]


@dataclass
class ModelArtifacts:
    """Everything logged beside the model in the training run."""

    features: pd.DataFrame
    onnx: bytes | None
    figures: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    documents: dict[str, str] = field(default_factory=dict)


def log_model(client: MlflowClient, run_id: str, model: Any, artifacts: ModelArtifacts) -> str:
    """Log the model (signature, input example, pinned requirements) and its companions;
    returns the logged model's URI."""
    import mlflow
    from mlflow.models import infer_signature

    example = artifacts.features.head(5)
    signature = infer_signature(example, np.asarray(model.predict(example), dtype=np.float64))
    with mlflow.start_run(run_id=run_id):
        info = mlflow.sklearn.log_model(
            model,
            name="model",
            serialization_format="cloudpickle",
            signature=signature,
            input_example=example,
            pip_requirements=[f"{p}=={installed_version(p)}" for p in MODEL_REQUIREMENTS],
        )
        for path, figure in artifacts.figures.items():
            mlflow.log_figure(figure, path)
        for path, text in artifacts.documents.items():
            mlflow.log_text(text, path)
        for path, table in artifacts.tables.items():
            mlflow.log_text(table.to_csv(index=False), path)
        if artifacts.onnx is not None:
            _log_bytes(client, run_id, artifacts.onnx, ONNX_ARTIFACT)
    return info.model_uri


def _log_bytes(client: MlflowClient, run_id: str, payload: bytes, artifact: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(artifact).name
        path.write_bytes(payload)
        client.log_artifact(run_id, str(path), str(Path(artifact).parent))


REGISTRY_DESCRIPTION = (
    "Reservations per car-sharing listing, forecast by fleetcast. The alias `champion` is the "
    "version the service serves; `candidate` is the newest trained version awaiting the promote "
    "flow. Each version's tags (`fleetcast.*`) carry its lineage, scores and decision."
)


def log_training_input(
    client: MlflowClient, run_id: str, rows: pd.DataFrame, source: Path, meta: SnapshotMeta
) -> None:
    """The snapshot's training rows as the run's dataset input, so MLflow's own Dataset column
    names what the model was trained on (the same id and content hash as the lineage tags)."""
    from mlflow.data.pandas_dataset import from_pandas
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    name, digest = meta.snapshot_id, meta.content_sha256[:10]
    dataset = from_pandas(rows, source=source.as_uri(), targets=TARGET, name=name, digest=digest)
    context = InputTag(MLFLOW_DATASET_CONTEXT, "training")
    client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [context])])


def register_candidate(
    client: MlflowClient, settings: Settings, model_uri: str, tags: dict[str, Any], about: str
) -> ModelVersion:
    """A new version of the registered model, tagged with its lineage, described by `about`,
    aliased `candidate`; the registered model itself described once."""
    import mlflow

    # register_model links the version to the logged model and its run (MLflow 3 lineage).
    name = settings.registered_model
    registered = mlflow.register_model(model_uri, name, tags=as_tags(tags))
    client.update_model_version(name, registered.version, description=about)
    if not client.get_registered_model(name).description:
        client.update_registered_model(name, description=REGISTRY_DESCRIPTION)
    client.set_registered_model_alias(name, CANDIDATE, registered.version)
    return registered


def comparison_markdown(table: pd.DataFrame) -> str:
    """A family comparison as a markdown table (for MLflow and the Prefect UI)."""
    header = "| " + " | ".join(table.columns) + " |"
    rule = "|" + "---|" * len(table.columns)
    rows = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.itertuples(False)]
    return "\n".join([header, rule, *rows])


def _cell(value: object) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def features_document(names: list[str], schema_version: int) -> str:
    """The feature list the model was trained on, in contract order."""
    return json.dumps({"features": names, "schema_version": schema_version}, indent=1)
