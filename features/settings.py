"""The one settings class: every path, URI and name fleetcast uses, read from the environment."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """fleetcast settings; each field is read from `FLEETCAST_<NAME>` (see the README's table)."""

    # An empty variable means unset (compose's env files write `NAME=`): an empty admin token
    # must disable the admin routes, not accept an empty bearer.
    model_config = SettingsConfigDict(
        env_prefix="FLEETCAST_",
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        env_ignore_empty=True,
    )

    home: Path = Field(
        PROJECT_ROOT / ".fleetcast",
        description="Folder of all local state: raw store, snapshots, Redis data, Prefect home.",
    )
    data_dir: Path = Field(
        PROJECT_ROOT / "data", description="Folder of the shipped CSVs that ingest reads."
    )
    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        description="Redis to use; unset starts an embedded redis-server under `home`.",
    )
    prefect_port: int = Field(
        4200,
        ge=0,
        le=65535,
        description="Port of the local Prefect server and UI (taken → any free port; 0 → any).",
    )
    redis_key_prefix: str = Field("fleetcast", description="Prefix of every Redis key we write.")
    new_listing_days: int = Field(
        30,
        ge=0,
        description="A vehicle first seen fewer days than this before `as_of` gets no label.",
    )
    online_write_batch: int = Field(
        50_000, gt=0, description="Vehicles per Redis command when materializing."
    )
    snapshots_kept_online: int = Field(
        2, ge=1, description="Online snapshots kept in Redis (current + previous for readers)."
    )
    mlflow_tracking_uri: str | None = Field(
        None,
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking and registry store; unset uses SQLite under `home`.",
    )
    mlflow_experiment: str = Field("fleetcast", description="MLflow experiment of training runs.")
    registered_model: str = Field(
        "fleetcast-reservations", description="Registered model that holds every candidate."
    )
    holdout_percent: int = Field(
        20,
        ge=1,
        le=50,
        description="Share of vehicles (by a stable hash of the id) frozen for promotion only.",
    )
    cv_folds: int = Field(5, ge=2, le=20, description="Folds of the repeated K-fold protocol.")
    cv_repeats: int = Field(2, ge=1, le=10, description="Repeats of the K-fold protocol.")
    train_max_rows: int = Field(
        40_000,
        ge=100,
        description="Most labeled training rows a training run compares families on and fits "
        "the winner to; above it, a seeded sample of this many (recorded on the run). Tree "
        "fits grow faster than the rows, and past ~40k listings the scores settle.",
    )
    seed: int = Field(42, description="Seed of the folds and of every model family.")
    selection_metric: Literal["mae", "rmse", "poisson_deviance"] = Field(
        "mae", description="Metric (lower is better) that picks the family and gates promotion."
    )
    promotion_confidence: float = Field(
        0.95,
        ge=0.5,
        lt=1,
        description="Confidence (one-sided, paired bootstrap over holdout vehicles) with which "
        "a candidate must beat the champion by the minimum effect to be promoted.",
    )
    promotion_min_effect: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Relative improvement over the champion's holdout score that the "
        "improvement's lower confidence bound must exceed (0.01 = 1%).",
    )
    bootstrap_draws: int = Field(
        2000, ge=100, le=100_000, description="Paired bootstrap resamples of the promotion gate."
    )
    interval_level: float = Field(
        0.8,
        ge=0.5,
        le=0.99,
        description="Nominal coverage of the range given with every forecast (0.8 = 80%).",
    )
    interval_tolerance: float = Field(
        0.05,
        gt=0,
        lt=0.5,
        description="Most a candidate's holdout coverage may fall short of the interval level "
        "by (0.05 = 5 points) before promotion refuses it.",
    )
    promotion_live_evidence: Literal["off", "may", "must"] = Field(
        "may",
        description="Whether promotion uses the shadow's live comparison with the champion "
        "(the drift flow's, on the same requests): off (holdout only); may (when there are "
        "enough pairs, a candidate significantly worse live is refused); must (a candidate "
        "without enough live pairs is refused too).",
    )
    live_min_pairs: int = Field(
        100,
        ge=10,
        description="Fewest requests with an outcome, answered by both champion and shadow, "
        "that make live evidence.",
    )
    train_workers: int = Field(
        1,
        ge=1,
        description="Threads that train model families side by side (local runner). 1 by "
        "default: the nested search's fits are small and hold the GIL, and on 2 cores two "
        "threads trained the shipped data slower (29 s) than one (21 s). Above 10,000 "
        "training rows each forest fit takes cores // this threads.",
    )
    dask_address: str | None = Field(
        None,
        description="Dask scheduler (tcp://host:port) for the training fan-out and the "
        "partitioned feature build; unset: threads and one process.",
    )
    feature_partitions: int = Field(
        4,
        ge=1,
        le=256,
        description="Partitions (by a stable hash of vehicle_id) of the feature build on Dask.",
    )

    git_commit: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{7,40}(-dirty)?$",
        description="The code's commit, for code that runs outside a git checkout (the images "
        "set it at build time); unset: read from git, else `unknown`.",
    )
    admin_token: SecretStr | None = Field(
        None,
        min_length=16,  # a guessable token is worse than none: refuse it at startup
        description="Bearer token of the service's admin routes (at least 16 characters); "
        "unset disables them.",
    )
    cors_origins: list[str] = Field(
        [],
        description="Browser origins allowed to call the service (JSON list); empty: no CORS "
        "headers, so browsers on other origins are refused.",
    )
    service_port: int = Field(3000, ge=1, le=65535, description="Port of the BentoML service.")
    service_workers: int = Field(2, ge=1, le=64, description="BentoML worker processes.")
    max_batch: int = Field(1000, ge=1, description="Most listings one /predict_batch may carry.")
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body the service reads (else 413)."
    )
    reload_poll_seconds: float = Field(
        30.0, gt=0, description="How often each worker checks the champion alias (safety net)."
    )
    lookup_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+",  # an address the workers can call, e.g. http://lookup:3001
        description="A separately served OnlineLookup (`bentoml serve service.lookup:OnlineLookup`)"
        " for /predict_by_id; unset runs the lookup inside each worker (no process hop).",
    )

    prediction_log: bool = Field(
        True, description="Log every prediction (off only to measure what logging costs)."
    )
    prediction_log_flush_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Each worker appends its buffered predictions to the Redis log this often "
        "(what a crash of the worker can lose at most).",
    )
    prediction_log_buffer: int = Field(
        100_000,
        ge=1,
        description="Predictions a worker holds while Redis is unreachable; beyond, the oldest "
        "are dropped and counted.",
    )
    prediction_log_max_stream: int = Field(
        2_000_000,
        ge=1000,
        description="Rows the Redis log keeps before its oldest undrained entries are trimmed.",
    )
    drift_window_days: int = Field(
        7, ge=1, description="The drift flow's current window: logged predictions of these days."
    )
    drift_min_rows: int = Field(
        200, ge=10, description="Fewest current rows the drift flow will judge (else it skips)."
    )
    drift_share_threshold: float = Field(
        0.3,
        gt=0,
        le=1,
        description="Share of drifted features at or above which drift is declared.",
    )
    drift_mae_ratio_threshold: float = Field(
        1.25,
        gt=1,
        description="Live MAE over the champion's holdout MAE at or above which the error is "
        "declared regressed.",
    )

    @cached_property
    def tracking_uri(self) -> str:
        """The MLflow store in use: `MLFLOW_TRACKING_URI`, else SQLite under `home`."""
        return self.mlflow_tracking_uri or f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @cached_property
    def drift_experiment(self) -> str:
        """MLflow experiment of drift runs: beside the training runs, not inside them."""
        return f"{self.mlflow_experiment}-drift"

    @cached_property
    def mlflow_dir(self) -> Path:
        """The default MLflow store: its SQLite database and artifact folder."""
        return self.home / "mlflow"

    @cached_property
    def landing_dir(self) -> Path:
        """Drop CSVs here for the next ingest to pick up."""
        return self.home / "landing"

    @cached_property
    def raw_dir(self) -> Path:
        """The validated raw store (Parquet parts + manifest)."""
        return self.home / "raw"

    @cached_property
    def quarantine_dir(self) -> Path:
        """Rejected rows, one file per ingested source file, with the rule each broke."""
        return self.home / "quarantine"

    @cached_property
    def offline_dir(self) -> Path:
        """Offline feature snapshots and the pointer to the latest."""
        return self.home / "offline"

    @cached_property
    def redis_dir(self) -> Path:
        """Data, log and address file of the embedded Redis server."""
        return self.home / "redis"

    @cached_property
    def prefect_home(self) -> Path:
        """PREFECT_HOME for local runs (its SQLite database and logs)."""
        return self.home / "prefect"

    def bentoml_home(self, port: int) -> Path:
        """BENTOML_HOME of the service on `port`: its own, because BentoML keeps the Prometheus
        multiprocess files there and wipes them at start, so two servers sharing one (the
        default `~/bentoml`) report each other's workers and lose counts."""
        return self.home / "bentoml" / f"port-{port}"

    @cached_property
    def predictions_dir(self) -> Path:
        """The prediction log drained from Redis: Parquet files, one per drain chunk."""
        return self.home / "predictions"

    @cached_property
    def reports_dir(self) -> Path:
        """Generated reports (drift and others)."""
        return self.home / "reports"


def get_settings() -> Settings:
    """Read settings from the environment now (never at import)."""
    return Settings()
