"""Two replicas of the service (as behind a load balancer) follow the champion on their own:
every worker of each swaps on the promotion event, including a rollback's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from prefect.events import emit_event
from support.registry import register_copy
from support.service_fixtures import use_service_settings

from features.contract.events import MODEL_PROMOTED, model_resource
from features.contract.registry import CHAMPION, Tag
from flows.promote.rollback import rollback_flow

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REACH_S = 60.0


def _promote_by_hand(service: RunningService, source: Any, promoted_at: str) -> str:
    """A new champion as a promote run leaves it: alias moved, audit tag, the event."""
    version = register_copy(service.settings, source, CHAMPION, **{Tag.PROMOTED_AT: promoted_at})
    emit_event(
        event=MODEL_PROMOTED,
        resource=model_resource(service.settings.registered_model),
        payload={"version": version},
    )
    return version


def _all_serve(replicas: list[RunningService], version: str) -> None:
    """Every worker of every replica serves `version` and got the event that announced it.

    Which mechanism swapped a worker (the event, or an alias poll that saw the move first on a
    busy machine) is a race, not a promise; that the event reaches every worker is one.
    """
    for replica in replicas:
        replica.each_worker(
            lambda info: info["version"] == version and info["events"]["last_version"] == version,
            REACH_S,
        )


def test_each_replica_follows_promotions_and_rollbacks_on_its_own(
    service: RunningService,
    another_service: Callable[[dict[str, str]], RunningService],
    trained_model: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    replicas = [service, another_service({})]
    first = _promote_by_hand(service, trained_model, "2026-03-01T00:00:00")
    _all_serve(replicas, first)
    second = _promote_by_hand(service, trained_model, "2026-03-02T00:00:00")
    _all_serve(replicas, second)
    use_service_settings(service, monkeypatch)
    done = rollback_flow(version=first, reason="replica test")
    assert (done.version, done.replaced_version) == (first, second)
    _all_serve(replicas, first)
