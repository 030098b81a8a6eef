"""The shadow in the real service: the `challenger` alias is loaded, swapped and unloaded on
every worker (event and poll), its answers reach the prediction log beside the champion's, the
client's response is the same with or without it, and a broken shadow changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import polars as pl
import pytest
from support.logs import drained
from support.metrics import scrape, value
from support.registry import register_broken, register_constant
from support.service_fixtures import use_service_settings

from features.contract import clock
from features.contract.intervals import from_tags
from features.contract.prediction_log import (
    MODEL_VERSION,
    PREDICTION,
    REQUEST_ID,
    SHADOW_LOWER,
    SHADOW_PREDICTION,
    SHADOW_UPPER,
    SHADOW_VERSION,
)
from features.contract.registry import CHALLENGER
from features.stores import model_registry
from flows.promote.challenger import challenger_flow
from service.http import REQUEST_ID_HEADER, VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService, WorkerInfo

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHADOW_CONSTANT = 3.0  # what the shadow predicts for every listing: its log rows are easy to spot
REACH_S = 60.0
# Headers that differ on every request whoever answers: ours, BentoML's trace id, the clock.
PER_REQUEST = {REQUEST_ID_HEADER.lower(), "x-bentoml-request-id", "date"}


def shadowing(
    version: str | None, outcome: str | None = None, loaded_since: str | None = None
) -> Callable[[WorkerInfo], bool]:
    """A worker whose shadow is `version` (None: none), whose last attempt ended in `outcome`,
    loaded at or after `loaded_since` (a stamp: a later poll's "unchanged" does not hide it)."""

    def wanted(info: WorkerInfo) -> bool:
        shadow = info["shadow"]
        last = shadow["last_reload"] or {}
        fresh = loaded_since is None or (shadow["loaded_at"] or "") >= loaded_since
        return shadow["version"] == version and outcome in (None, last.get("outcome")) and fresh

    return wanted


@pytest.fixture
def flows_on_service(service: RunningService, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Flows run here act on the service's registered model; the alias is cleared after."""
    use_service_settings(service, monkeypatch)
    yield
    use_service_settings(service, monkeypatch)  # a drain in the test moves FLEETCAST_HOME
    challenger_flow(version=None, reason="test over")
    service.each_worker(shadowing(None), REACH_S)


@pytest.fixture(scope="module")
def constant_shadow(service: RunningService, trained_model: Any) -> str:
    """A calibrated version predicting SHADOW_CONSTANT, registered without any alias."""
    version = register_constant(service.settings, trained_model, SHADOW_CONSTANT, CHALLENGER)
    client, _ = model_registry.connect(service.settings)
    client.delete_registered_model_alias(service.settings.registered_model, CHALLENGER)
    return version


def _answer(reply: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in reply.headers.items() if k.lower() not in PER_REQUEST}
    return reply.status_code, reply.content, headers


def _requests(service: RunningService, listing: dict[str, Any], known: int) -> list[Any]:
    return [
        service.post("/predict", listing),
        service.post("/predict", listing | {"num_images": 1}),
        service.post("/predict_batch", {"listings": [listing, listing | {"technology": 0}]}),
        service.post("/predict_by_id", {"vehicle_id": known}),
    ]


@pytest.mark.usefixtures("flows_on_service")
def test_the_shadow_loads_on_every_worker_logs_both_answers_and_changes_no_response(
    service: RunningService,
    constant_shadow: str,
    listing: dict[str, Any],
    known_vehicle: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without = [_answer(reply) for reply in _requests(service, listing, known_vehicle)]
    started = clock.stamp("milliseconds")
    challenger_flow(version=constant_shadow, reason="test")
    workers = service.each_worker(shadowing(constant_shadow, loaded_since=started), REACH_S)
    assert {info["shadow"]["last_reload"]["trigger"] for info in workers.values()} <= {
        "event",
        "poll",
    }
    replies = _requests(service, listing, known_vehicle)
    assert [_answer(reply) for reply in replies] == without  # same status, bytes, headers

    ids = {reply.headers[REQUEST_ID_HEADER] for reply in replies}
    logged = drained(service, tmp_path / "home", monkeypatch, ids)
    ours = logged.filter(pl.col(REQUEST_ID).is_in(list(ids)))
    assert ours.height == 5  # a batch of two logs two rows
    version = model_registry.client(service.settings).get_model_version(
        service.settings.registered_model, constant_shadow
    )
    low, high = from_tags(dict(version.tags), constant_shadow).bounds(np.array([SHADOW_CONSTANT]))
    assert ours[SHADOW_VERSION].to_list() == [constant_shadow] * 5
    assert ours[SHADOW_PREDICTION].to_list() == [SHADOW_CONSTANT] * 5
    assert ours[SHADOW_LOWER].unique().to_list() == [int(low[0])]
    assert ours[SHADOW_UPPER].unique().to_list() == [int(high[0])]
    served = {reply.headers[VERSION_HEADER] for reply in replies}
    assert set(ours[MODEL_VERSION]) == served and ours[PREDICTION].null_count() == 0

    samples = scrape(service)
    model = service.settings.registered_model
    per_worker = [
        v
        for (metric, labels), v in samples.items()
        if metric == "fleetcast_worker_shadow_version" and ("registered_model", model) in labels
    ]
    assert per_worker == [float(constant_shadow)] * len(workers)
    shadowed = value(samples, "fleetcast_shadow_predictions_total", model_version=constant_shadow)
    assert shadowed >= 5
    listed = httpx.get(f"{service.url}/workers", timeout=5).json()["workers"]
    assert {w["shadow_version"] for w in listed} == {constant_shadow}

    use_service_settings(service, monkeypatch)  # `drained` moved FLEETCAST_HOME: back to the store
    challenger_flow(version=None, reason="test")
    cleared = service.each_worker(shadowing(None), REACH_S)
    for info in cleared.values():  # the clearing event names no version (not "None")
        if info["shadow"]["last_reload"]["trigger"] == "event":
            assert info["events"]["last_version"] is None


@pytest.mark.usefixtures("flows_on_service")
def test_a_shadow_that_fails_to_load_leaves_every_answer_as_it_was(
    service: RunningService,
    trained_model: Any,
    listing: dict[str, Any],
    known_vehicle: int,
    tmp_path: Path,
) -> None:
    without = [_answer(reply) for reply in _requests(service, listing, known_vehicle)]
    champion = without[0][2][VERSION_HEADER.lower()]
    broken = register_broken(service.settings, trained_model, tmp_path)
    challenger_flow(version=broken, reason="test")
    workers = service.each_worker(shadowing(None, "failed"), REACH_S)
    assert all(info["version"] == champion for info in workers.values())
    assert all(info["last_reload"]["outcome"] != "failed" for info in workers.values())
    assert [_answer(reply) for reply in _requests(service, listing, known_vehicle)] == without


@pytest.mark.usefixtures("flows_on_service")
def test_a_new_challenger_swaps_every_workers_shadow_and_its_logged_answers(
    service: RunningService,
    constant_shadow: str,
    trained_model: Any,
    listing: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    challenger_flow(version=constant_shadow, reason="first")
    service.each_worker(shadowing(constant_shadow), REACH_S)
    successor = register_constant(service.settings, trained_model, SHADOW_CONSTANT + 1, "spare")
    started = clock.stamp("milliseconds")
    challenger_flow(version=successor, reason="second")
    service.each_worker(shadowing(successor, loaded_since=started), REACH_S)  # every worker
    ids = {service.post("/predict", listing).headers[REQUEST_ID_HEADER] for _ in range(4)}
    logged = drained(service, tmp_path / "home", monkeypatch, ids)
    ours = logged.filter(pl.col(REQUEST_ID).is_in(list(ids)))
    assert ours[SHADOW_VERSION].to_list() == [successor] * 4
    assert ours[SHADOW_PREDICTION].to_list() == [SHADOW_CONSTANT + 1] * 4


def test_a_worker_finds_and_drops_its_shadow_by_polling_the_alias(
    service: RunningService,
    constant_shadow: str,
    another_service: Callable[[dict[str, str]], RunningService],
) -> None:
    # No event stream at all (Prefect's subscriber replays the last minute of events on
    # connect, and an earlier test's event would re-resolve the alias first): only polling.
    unreachable = {"PREFECT_API_URL": "http://127.0.0.1:9/api"}
    polling = another_service({"FLEETCAST_RELOAD_POLL_SECONDS": "1"} | unreachable)
    client, _ = model_registry.connect(service.settings)
    name = service.settings.registered_model
    started = clock.stamp("milliseconds")
    client.set_registered_model_alias(name, CHALLENGER, constant_shadow)  # no event
    try:
        workers = polling.each_worker(shadowing(constant_shadow, loaded_since=started), REACH_S)
        assert {info["shadow"]["last_reload"]["trigger"] for info in workers.values()} == {"poll"}
        assert all(info["shadow"]["backend"] for info in workers.values())
        assert not any(info["events"]["connected"] for info in workers.values())
    finally:
        client.delete_registered_model_alias(name, CHALLENGER)
    polling.each_worker(shadowing(None), REACH_S)
