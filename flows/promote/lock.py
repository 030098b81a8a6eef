"""A lock held across every promote run that talks to the same Prefect server.

MLflow has no compare-and-set on aliases, so two promote runs must not interleave between
reading the aliases and moving one. A Prefect global concurrency limit of one slot serializes
them wherever they run; its lease frees the slot if a holder dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import (
    GlobalConcurrencyLimitCreate,
    GlobalConcurrencyLimitUpdate,
)
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from features.settings import Settings

WAIT_SECONDS = 600


def lock_name(settings: Settings) -> str:
    """One lock per registered model."""
    return f"fleetcast-promote-{settings.registered_model}"


def _ensure_single_slot(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            limit = client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            # A concurrent run may create it first, with the same settings.
            with suppress(ObjectAlreadyExists):
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
            return
        if limit.limit != 1 or not limit.active:
            client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=1, active=True)
            )


@contextmanager
def promotion_lock(settings: Settings) -> Iterator[None]:
    """Hold the registered model's promotion slot (waiting up to WAIT_SECONDS for it)."""
    name = lock_name(settings)
    _ensure_single_slot(name)
    with concurrency(name, occupy=1, timeout_seconds=WAIT_SECONDS, strict=True):
        yield
