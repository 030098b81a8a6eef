"""The routes behind the web page's model card and vehicle lookup, against the real service."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.registry import register_copy

from features.contract import audit, clock
from features.contract.formulas import FEATURE_NAMES
from features.contract.registry import BASELINE, CHAMPION, REFERENCE, REJECTED, Tag
from features.stores import model_registry
from features.stores.offline import scan_snapshot
from features.stores.reports import drift_report_base
from service.page import CONTENT_SECURITY_POLICY

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration


def _get(service: RunningService, path: str, **kwargs: Any) -> httpx.Response:
    return httpx.get(f"{service.url}{path}", timeout=15, **kwargs)


def test_a_vehicles_online_features_are_what_by_id_scores(
    service: RunningService, known_vehicle: int
) -> None:
    reply = _get(service, f"/vehicles/{known_vehicle}")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert list(body["features"]) == list(FEATURE_NAMES)
    row = scan_snapshot(service.settings).filter(vehicle_id=known_vehicle).collect()
    assert body["features"] == pytest.approx({name: row[name].item() for name in FEATURE_NAMES})
    assert body["snapshot_id"] is not None


@pytest.mark.parametrize(
    ("vehicle_id", "status", "message"),
    [
        ("987654321", 404, "vehicle_id: 987654321 is not in the online store"),
        ("0", 400, "vehicle_id: Input should be greater than 0"),
        ("abc", 400, "vehicle_id: Input should be a valid integer"),
        (str(2**63), 400, "vehicle_id: Input should be less than or equal to"),
    ],
)
def test_an_unknown_or_bad_id_is_named_in_the_reply(
    service: RunningService, vehicle_id: str, status: int, message: str
) -> None:
    reply = _get(service, f"/vehicles/{vehicle_id}")
    assert reply.status_code == status, reply.text
    assert reply.json()["error"].startswith(message)


def test_the_model_card_reads_its_scores_against_the_yardsticks(service: RunningService) -> None:
    body = _get(service, "/model").json()
    client, _ = model_registry.connect(service.settings)
    tags = client.get_model_version(service.settings.registered_model, body["version"]).tags
    assert body["cv"]["mae"] == pytest.approx(float(tags[Tag.cv("mae")]))
    for name in (REFERENCE, BASELINE):
        assert body["yardsticks"][name]["cv"]["mae"] == pytest.approx(
            float(tags[Tag.cv("mae", of=name)])
        )
    assert body["yardsticks"][REFERENCE]["holdout"] == {}  # never scored on the holdout


def test_every_worker_reports_its_version_and_last_reload(service: RunningService) -> None:
    served = service.each_worker(lambda info: True, timeout=30)
    reload = httpx.post(f"{service.url}/reload", headers=service.admin, timeout=30)
    assert reload.status_code == 200, reload.text
    body = _get(service, "/workers").json()
    workers = {w["pid"]: w for w in body["workers"]}
    assert set(workers) == set(served)
    assert body["answered_by"] in workers
    for pid, info in served.items():
        assert workers[pid]["version"] == info["version"]
        assert workers[pid]["loaded_at"] is not None
    # The worker that took POST /reload says so, by its own gauge read from any worker.
    since = reload.json()["at"]  # the attempt's start, in the same ISO 8601 UTC spelling
    by_api = [
        w
        for w in workers.values()
        if w["last_reload"]["trigger"] == "api" and w["last_reload"]["at"] >= since
    ]
    assert len(by_api) == 1, (since, workers)
    assert by_api[0]["last_reload"]["outcome"] in ("unchanged", "loaded")


def test_the_history_is_the_registrys_decisions_newest_first(
    service: RunningService, trained_model: Any
) -> None:
    settings = service.settings
    version = register_copy(settings, trained_model, alias="history-test")
    at = clock.stamp()
    client, _ = model_registry.connect(settings)
    champion = str(client.get_model_version_by_alias(settings.registered_model, CHAMPION).version)
    decision = {
        Tag.DECISION: REJECTED,
        Tag.DECIDED_AT: at,
        Tag.COMPARED_TO_CHAMPION: champion,
        Tag.DECISION_REASON: "not enough evidence (a test's decision)",
    }
    for key, value in decision.items():
        client.set_model_version_tag(settings.registered_model, version, key, value)
    reply = _get(service, "/model/history")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["champion"] == champion
    assert body["events"][0] == {
        "at": at,
        "kind": "rejected",
        "version": version,
        "replaced": champion,
        "reason": "not enough evidence (a test's decision)",
    }
    expected = audit.history(model_registry.version_tags(settings))
    assert [(e["version"], e["kind"]) for e in body["events"]] == [
        (e.version, e.kind) for e in expected
    ]


def test_the_latest_drift_report_is_linked_and_served_sandboxed(service: RunningService) -> None:
    assert _get(service, "/drift/latest").status_code in (200, 404)
    created_at = "2999-01-01T00:00:00+00:00"  # newer than any report a flow writes
    base = drift_report_base(service.settings, created_at, "7")
    base.parent.mkdir(parents=True, exist_ok=True)
    html, numbers = base.with_suffix(".html"), base.with_suffix(".json")
    try:
        html.write_text("<html><body>the report</body></html>")
        numbers.write_text(
            json.dumps({"created_at": created_at, "champion_version": "7", "drift_detected": True})
        )
        body = _get(service, "/drift/latest").json()
        assert body["name"] == html.name
        assert (body["champion_version"], body["drift_detected"]) == ("7", True)
        report = _get(service, body["url"])
        assert report.status_code == 200 and "the report" in report.text
        assert report.headers["content-security-policy"].startswith("sandbox")
    finally:
        html.unlink(missing_ok=True)
        numbers.unlink(missing_ok=True)


def test_the_page_is_served_under_its_policy_and_nothing_else_is(
    service: RunningService,
) -> None:
    page = _get(service, "/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "access-control-allow-origin" not in page.headers  # no new CORS
    again = _get(service, "/ui", headers={"if-none-match": page.headers["etag"]})
    assert again.status_code == 304
    for stray in ("/ui/..%2Fpage.py", "/ui/page.py", "/ui/missing.js"):
        assert _get(service, stray).status_code == 404, stray
