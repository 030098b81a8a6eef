"""What the service says about its models (GET /model, /model/history, /workers,
/drift/latest): the served version's card, its shadow, reloads, and the registry's history.
The prediction routes' bodies are in `service.schemas`."""

from __future__ import annotations

from pydantic import BaseModel, Field


class FeatureRange(BaseModel):
    """One feature's values among the served version's training rows."""

    field: str
    low: float
    high: float
    quantiles: dict[str, float] = Field(description='e.g. {"q01": ..., "q50": ..., "q99": ...}')


class InputRanges(BaseModel):
    """What the served version was trained on: answers outside it carry warnings."""

    rows: int = Field(description="Training rows the ranges were measured on.")
    ranges: list[FeatureRange]


class ReloadAttempt(BaseModel):
    """The last time this worker tried to (re)load the champion, and what happened."""

    at: str
    trigger: str
    outcome: str  # "loaded", "unchanged" or "failed"; a shadow's also "unloaded"
    message: str


class EventListener(BaseModel):
    """This worker's subscription to model events (promoted, challenger): whether it is
    connected, what it got."""

    connected: bool
    connected_at: str | None = None  # the latest (re)connection
    received: int = 0  # promotion and challenger events received since the worker started
    last_version: str | None = None  # the version the latest event named
    last_received_at: str | None = None


class IntervalInfo(BaseModel):
    """How the served version's ranges are made, and how they did when it was judged."""

    level: float = Field(description="The share of outcomes each range is calibrated to contain.")
    method: str = Field(description="How the ranges are calibrated.")
    holdout_coverage: float | None = Field(
        description="Share of the promotion holdout's outcomes inside their range (null: the "
        "version was never judged by the promote flow)."
    )
    holdout_width: float | None = Field(
        description="Mean `upper - lower` on that holdout, in reservations (null: never judged)."
    )


class Scores(BaseModel):
    """A model's scores by metric: nested CV on the training rows, and on the frozen holdout."""

    cv: dict[str, float] = Field(description="Mean over the outer folds of the nested CV.")
    holdout: dict[str, float] = Field(
        description="On the promotion holdout (empty: never scored there)."
    )


class LiveEvidence(BaseModel):
    """The drift flow's latest comparison of the shadow with the champion, on the same
    requests with an outcome (from the shadow version's tags)."""

    measured_at: str
    champion_version: str | None = Field(description="The champion it was compared with.")
    pairs: int = Field(description="Requests with an outcome that both answered.")
    mae: float | None = Field(description="The shadow's MAE on them.")
    champion_mae: float | None
    mae_diff: float | None = Field(description="Shadow minus champion MAE: below 0, better.")
    mae_diff_low: float | None = Field(description="The paired-bootstrap interval of the diff.")
    mae_diff_high: float | None
    coverage: float | None = Field(description="Share of outcomes in the shadow's ranges.")
    champion_coverage: float | None


class ShadowInfo(BaseModel):
    """The version this worker scores beside the champion (`challenger` alias), off the
    response path: its answers go to the prediction log, never to a client."""

    version: str | None = Field(description="null: no shadow loaded.")
    backend: str | None
    loaded_at: str | None
    last_reload: ReloadAttempt | None
    live: LiveEvidence | None = Field(description="null: no live comparison yet.")


class ModelInfo(BaseModel):
    """What this worker serves."""

    registered_model: str
    version: str
    run_id: str
    family: str | None
    trained_at: str | None
    snapshot_id: str | None
    holdout: dict[str, float]
    cv: dict[str, float] = Field(description="Nested-CV scores of the version's family.")
    yardsticks: dict[str, Scores] = Field(
        description="The seed's reference model and the median baseline on the same folds and "
        "holdout, to read the version's scores against."
    )
    interval: IntervalInfo
    input_ranges: InputRanges | None = Field(
        description="Each feature's training range (null: trained before ranges were recorded; "
        "its answers carry no warnings)."
    )
    features: list[str]
    backend: str  # "onnx" or "sklearn"
    backend_note: str
    loaded_at: str
    last_reload: ReloadAttempt | None
    events: EventListener
    shadow: ShadowInfo
    worker_pid: int


class AuditEntry(BaseModel):
    """One decision about a version, from the registry's tags: who replaced whom, when, why."""

    at: str
    kind: str = Field(description="promoted, rejected, restored or rolled_back.")
    version: str
    replaced: str | None = Field(
        description="promoted: the champion it replaced; rejected: the champion it was "
        "compared to; restored: the version rolled back from."
    )
    reason: str | None


class ModelHistory(BaseModel):
    """The registered model's decisions, newest first."""

    registered_model: str
    champion: str | None
    events: list[AuditEntry]


class ReloadSeen(BaseModel):
    """When a worker last tried a reload, why, and what happened."""

    at: str
    trigger: str
    outcome: str


class WorkerStatus(BaseModel):
    """One live worker: the version it serves, since when, and its last reload attempt."""

    pid: int
    version: str | None
    loaded_at: str | None
    last_reload: ReloadSeen | None
    shadow_version: str | None = Field(None, description="null: no shadow loaded.")


class Workers(BaseModel):
    """Every live worker of this service, and which one answered."""

    answered_by: int
    workers: list[WorkerStatus]


class DriftReportInfo(BaseModel):
    """The latest drift report the service can read, and where to open it."""

    name: str
    at: str | None
    champion_version: str | None
    drift_detected: bool | None
    error_regressed: bool | None
    message: str | None
    url: str
