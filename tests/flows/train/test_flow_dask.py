"""The training fan-out on a real (local) Dask cluster gives the same result as on threads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from distributed import Client, LocalCluster

from features.settings import Settings
from flows.train.flow import train_flow

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FAMILIES = ["poisson_glm", "extra_trees"]


@pytest.fixture
def dask_address() -> Iterator[str]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


def test_dask_and_threads_train_the_same_models(
    model_settings: Settings, dask_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_threads = train_flow(families=FAMILIES)
    monkeypatch.setenv("FLEETCAST_DASK_ADDRESS", dask_address)
    with Client(dask_address) as client:
        before = sum(client.run(lambda dask_worker: len(dask_worker.data)).values())
        on_dask = train_flow(families=FAMILIES)
        # The families really ran in the workers: their results passed through worker memory.
        workers_used = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert sum(workers_used.values()) >= len(FAMILIES) + 1 and before == 0
    assert on_dask.family == on_threads.family
    assert on_dask.cv == pytest.approx(on_threads.cv, rel=1e-12)
    assert on_dask.baseline_cv == pytest.approx(on_threads.baseline_cv, rel=1e-12)
    assert on_dask.version != on_threads.version
