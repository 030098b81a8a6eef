"""What the service says about its model: the served version's card, the registry's history of
decisions, and the latest drift report. GET /model, /model/history and /drift/latest answer
these; the web page shows them."""

from __future__ import annotations

import asyncio
from functools import partial

from features.contract import audit
from features.contract.formulas import FEATURE_NAMES
from features.contract.registry import BASELINE, CHAMPION, REFERENCE, Tag
from features.settings import Settings
from features.stores import model_registry
from features.stores.reports import latest_drift_report
from service.champion import Served, worker_pid
from service.forecasts import interval_info, ranges_info
from service.model_schemas import AuditEntry, DriftReportInfo, ModelHistory, ModelInfo, Scores
from service.reloader import Slot
from service.shadow import shadow_info

# The registry is read on the request, so a store that accepts and never answers must not hold
# the reply (MLflow's own HTTP timeout is 20 s per try, see champion.MLFLOW_HTTP_BOUNDS).
REGISTRY_WAIT_SECONDS = 5.0
HISTORY_LIMIT = 50
DRIFT_REPORT_URL = "/drift/latest.html"


def yardsticks(served: Served) -> dict[str, Scores]:
    """The reference model's and the median's scores, as the version's training and judging
    measured them. The reference is never scored on the holdout: only the families it beat."""
    return {
        REFERENCE: Scores(cv=served.scores(partial(Tag.cv, of=REFERENCE)), holdout={}),
        BASELINE: Scores(
            cv=served.scores(partial(Tag.cv, of=BASELINE)),
            holdout=served.scores(Tag.baseline_holdout),
        ),
    }


def model_info(settings: Settings, slot: Slot, served: Served) -> ModelInfo:
    """GET /model: what this worker serves, its lineage and scores, and its last reload."""
    tags = served.tags
    return ModelInfo(
        registered_model=settings.registered_model,
        version=served.version,
        run_id=served.run_id,
        family=tags.get(Tag.FAMILY),
        trained_at=tags.get(Tag.TRAINED_AT),
        snapshot_id=tags.get(Tag.SNAPSHOT_ID),
        holdout=served.holdout(),
        cv=served.scores(Tag.cv),
        yardsticks=yardsticks(served),
        interval=interval_info(served),
        input_ranges=ranges_info(served),
        features=list(FEATURE_NAMES),
        backend=served.backend,
        backend_note=served.backend_note,
        loaded_at=served.loaded_at,
        last_reload=slot.last,
        events=slot.events,
        shadow=shadow_info(slot.shadow, slot.shadow_last),
        worker_pid=worker_pid(),
    )


def _read_history(settings: Settings) -> ModelHistory:
    versions = model_registry.version_tags(settings)
    champion = model_registry.version_at_alias(settings, CHAMPION) if versions else None
    events = audit.history(versions)[:HISTORY_LIMIT]
    return ModelHistory(
        registered_model=settings.registered_model,
        champion=None if champion is None else str(champion.version),
        events=[AuditEntry(**vars(event)) for event in events],
    )


async def history(settings: Settings) -> ModelHistory:
    """The registry's decisions, newest first. Raises RegistryUnreachable, or TimeoutError when
    the store has not answered within REGISTRY_WAIT_SECONDS."""
    return await asyncio.wait_for(
        asyncio.to_thread(_read_history, settings), timeout=REGISTRY_WAIT_SECONDS
    )


def drift_report(settings: Settings) -> DriftReportInfo | None:
    """The latest drift report in this service's reports folder; None if it holds none."""
    report = latest_drift_report(settings)
    if report is None:
        return None
    return DriftReportInfo(
        name=report.html.name,
        at=report.created_at,
        champion_version=report.champion_version,
        drift_detected=report.drift_detected,
        error_regressed=report.error_regressed,
        message=report.message,
        url=DRIFT_REPORT_URL,
    )
