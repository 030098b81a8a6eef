"""The shadow: the version at `challenger`, scored beside the champion on the same features.

A worker scores its shadow when it flushes its prediction-log buffer (`prediction_buffer`), in
one call over every pending request and in a thread, so no request waits for it and its cost
is one batched prediction per flush, not one per request. Its answers go to the log only: the
response is the champion's. A shadow that fails a batch leaves that batch logged without
shadow answers, counted in `fleetcast_shadow_errors_total`; it never touches the champion.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from features.contract.registry import Tag, tag_number
from service import metrics
from service.champion import Served
from service.model_schemas import LiveEvidence, ReloadAttempt, ShadowInfo

logger = logging.getLogger("fleetcast.service")


@dataclass(frozen=True, slots=True)
class ShadowAnswers:
    """The shadow's answers to a flush's rows, in the order of the rows."""

    version: str
    predictions: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def score(
    shadow: Served | None, features: Sequence[np.ndarray], champion: Sequence[np.ndarray]
) -> ShadowAnswers | None:
    """The shadow's predictions and ranges for every row of `features` (one array per
    request; `champion` holds the champion's answers to them), or None: no shadow, or it
    failed (counted and logged, never raised)."""
    if shadow is None or not features:
        return None
    rows = np.vstack(features)
    try:
        values = np.asarray(shadow.predict(rows), dtype=np.float64)
        if values.shape != (len(rows),) or not np.isfinite(values).all():
            raise ValueError(f"predicted shape {values.shape}, finite {np.isfinite(values).all()}")
        lower, upper = shadow.calibration.bounds(values)
    except Exception as error:  # a broken shadow costs its own answers, nothing else
        metrics.SHADOW_ERRORS.inc(len(rows))
        logger.warning("shadow v%s failed on %d rows: %s", shadow.version, len(rows), error)
        return None
    metrics.SHADOW_PREDICTIONS.labels(shadow.version).inc(len(rows))
    metrics.SHADOW_ABS_DIFF.inc(float(np.abs(values - np.concatenate(champion)).sum()))
    return ShadowAnswers(shadow.version, values, lower, upper)


def live_evidence(shadow: Served) -> LiveEvidence | None:
    """The drift flow's latest comparison of this shadow with the champion, from its version's
    tags as of the worker's last reload or poll (None: never measured)."""
    tags = shadow.tags
    measured_at = tags.get(Tag.LIVE_MEASURED_AT)
    if measured_at is None:
        return None
    return LiveEvidence(
        measured_at=measured_at,
        champion_version=tags.get(Tag.LIVE_CHAMPION_VERSION),
        pairs=int(tag_number(tags, Tag.LIVE_PAIRS) or 0),
        mae=tag_number(tags, Tag.LIVE_MAE),
        champion_mae=tag_number(tags, Tag.LIVE_CHAMPION_MAE),
        mae_diff=tag_number(tags, Tag.LIVE_DIFF),
        mae_diff_low=tag_number(tags, Tag.LIVE_DIFF_LOW),
        mae_diff_high=tag_number(tags, Tag.LIVE_DIFF_HIGH),
        coverage=tag_number(tags, Tag.LIVE_COVERAGE),
        champion_coverage=tag_number(tags, Tag.LIVE_CHAMPION_COVERAGE),
    )


def shadow_info(shadow: Served | None, last: ReloadAttempt | None) -> ShadowInfo:
    """GET /model's `shadow`: what this worker scores beside the champion, and how it does."""
    return ShadowInfo(
        version=None if shadow is None else shadow.version,
        backend=None if shadow is None else shadow.backend,
        loaded_at=None if shadow is None else shadow.loaded_at,
        last_reload=last,
        live=None if shadow is None else live_evidence(shadow),
    )


def publish_live(registered_model: str, shadow: Served | None) -> None:
    """This worker's gauges of its shadow's live MAE and the champion's on the same requests
    (NaN: unknown, or no shadow)."""
    live = None if shadow is None else live_evidence(shadow)
    nan = float("nan")
    for role, value in (
        ("shadow", live.mae if live else None),
        ("champion", live.champion_mae if live else None),
    ):
        metrics.SHADOW_LIVE_MAE.labels(registered_model, role).set(nan if value is None else value)
