"""The task runner the training fan-out uses, chosen from settings when a flow run starts.

A flow's task runner is fixed where the flow is defined, but the choice (local threads or a
user's Dask cluster) is a setting read at run time, so this runner delegates to the configured
one. Deployments and subflows get the same behaviour without code changes.
"""

from __future__ import annotations

from typing import Any, Self

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from features.settings import Settings, get_settings


def configured_runner(settings: Settings) -> TaskRunner[Any]:
    """Dask at `FLEETCAST_DASK_ADDRESS` if set, else a pool of `FLEETCAST_TRAIN_WORKERS` threads."""
    if settings.dask_address:
        from prefect_dask import DaskTaskRunner  # imported only when a cluster is configured

        return DaskTaskRunner(address=settings.dask_address)
    return ThreadPoolTaskRunner(max_workers=settings.train_workers)


class SettingsTaskRunner(TaskRunner[Any]):
    """Runs tasks on the runner the settings name at the moment the flow run starts."""

    def __init__(self) -> None:
        self._inner: TaskRunner[Any] | None = None
        super().__init__()

    def duplicate(self) -> Self:
        return type(self)()

    def __enter__(self) -> Self:
        self._inner = configured_runner(get_settings())
        self._inner.__enter__()
        return super().__enter__()

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._inner is not None:
                self._inner.__exit__(*exc_info)
        finally:
            self._inner = None
            super().__exit__(*exc_info)

    def submit(self, task, parameters, wait_for=None, dependencies=None):  # type: ignore[no-untyped-def]
        if self._inner is None:
            raise RuntimeError("The task runner must be started before submitting work.")
        return self._inner.submit(task, parameters, wait_for, dependencies)
