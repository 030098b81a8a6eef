"""The task presets every flow uses, so a task says only what is special about it.

Every task is built with `cache_policy=NO_CACHE`: fleetcast's tasks take Settings, frames and
models, which Prefect's default input-hash cache key cannot hash (and must not reuse: a re-run
of a stage must read the stores as they are now). Retries belong to network I/O only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE

P = ParamSpec("P")
R = TypeVar("R")
NETWORK_RETRIES = 2
NETWORK_RETRY_DELAY_S = 2


def step(fn: Callable[P, R]) -> Task[P, R]:
    """A task: one step worth seeing, retrying by hand or timing on its own in the UI."""
    return task(cache_policy=NO_CACHE)(fn)


def network_step(fn: Callable[P, R]) -> Task[P, R]:
    """A task that talks to a server (Redis, MLflow, Prefect): retried on failure."""
    preset = task(
        cache_policy=NO_CACHE, retries=NETWORK_RETRIES, retry_delay_seconds=NETWORK_RETRY_DELAY_S
    )
    return preset(fn)


def named_step(run_name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A step run several times per flow, each run named from its arguments (`run_name`)."""

    def preset(fn: Callable[P, R]) -> Task[P, R]:
        return task(cache_policy=NO_CACHE, task_run_name=run_name)(fn)

    return preset
