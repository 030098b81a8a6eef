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

from features.contract import clock

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


def run_name(stage: str, *asked: str) -> Callable[[], str]:
    """A flow run's name in the Prefect UI: the stage, the parameters it was given among
    `asked`, and when it started (UTC), e.g. `train snapshot_id=2023... 2026-12-02 02:40 UTC`,
    instead of a random `celadon-dingo`."""

    def name() -> str:
        from prefect import runtime

        given = runtime.flow_run.parameters
        shown = [f"{key}={given[key]}" for key in asked if given.get(key) is not None]
        return " ".join([stage, *shown, clock.now().strftime("%Y-%m-%d %H:%M UTC")])

    return name
