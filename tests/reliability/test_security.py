"""What an exposed service must hold to: admin routes closed to anything but the exact token,
no CORS unless origins are configured (and then only those, for reads and predictions), and no
address, path or secret in any answer, even when a dependency fails."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from support.factories import vehicle
from support.service_fixtures import launch, stop, wait_ready

from features.contract.registry import CHAMPION, training_tags
from features.stores import model_registry
from service.http import VERSION_HEADER

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

pytestmark = pytest.mark.integration
OPS = "https://ops.example"
EVIL = "https://evil.example"
HEAL_TIMEOUT_S = 20.0

WRONG_TOKENS: dict[str, Callable[[str], dict[str, str]]] = {  # case -> headers, given the token
    "the right length, wrong content": lambda t: {"Authorization": f"Bearer {'x' * len(t)}"},
    "a prefix of the token": lambda t: {"Authorization": f"Bearer {t[: len(t) // 2]}"},
    "one character short": lambda t: {"Authorization": f"Bearer {t[:-1]}"},
    "the token twice": lambda t: {"Authorization": f"Bearer {t} {t}"},
    "Bearer and nothing": lambda t: {"Authorization": "Bearer"},
    "a Token scheme": lambda t: {"Authorization": f"Token {t}"},
    "an X-Admin-Token header": lambda t: {"X-Admin-Token": t},
    "a cookie": lambda t: {"Cookie": f"token={t}"},
}


@pytest.mark.parametrize("path", ["/reload", "/vehicles"])
@pytest.mark.parametrize("case", list(WRONG_TOKENS))
def test_admin_routes_refuse_anything_but_the_exact_bearer_token(
    service: RunningService, path: str, case: str
) -> None:
    token = service.settings.admin_token.get_secret_value()
    headers = WRONG_TOKENS[case](token)
    reply = service.post(path, vehicle(41_000_001), headers=headers)
    assert reply.status_code == 401, reply.text
    assert "Authorization: Bearer" in reply.json()["error"]
    assert token not in reply.text
    query = httpx.post(f"{service.url}{path}?token={token}", json={}, timeout=15)
    assert query.status_code == 401  # nor in the query string (where access logs keep it)


@pytest.fixture(scope="module")
def exposed(
    service: RunningService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """A second service with one browser origin allowed and FLEETCAST_ADMIN_TOKEN set empty (as
    `FLEETCAST_ADMIN_TOKEN: ${UNSET}` in a compose file would)."""
    overrides = {"FLEETCAST_CORS_ORIGINS": f'["{OPS}"]', "FLEETCAST_ADMIN_TOKEN": ""}
    running = launch(service.env | overrides, tmp_path_factory.mktemp("exposed"), service.redis)
    try:
        wait_ready(running)
        yield running
    finally:
        stop(running.process)


@pytest.mark.parametrize("authorization", ["Bearer", "", "Bearer x"])
def test_an_empty_admin_token_disables_admin_routes(
    exposed: RunningService, authorization: str
) -> None:
    """Regression: an empty token matched `Authorization: Bearer ` and opened the admin routes."""
    for path in ("/reload", "/vehicles"):
        reply = exposed.post(path, vehicle(41_000_002), headers={"Authorization": authorization})
        assert reply.status_code == 403, reply.text
        assert "FLEETCAST_ADMIN_TOKEN" in reply.json()["error"]
    assert exposed.post("/predict_by_id", {"vehicle_id": 41_000_002}).status_code == 404


def _cors_headers(reply: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in reply.headers.items() if k.lower().startswith("access-control-")}


def _preflight(url: str, origin: str, method: str = "POST", **extra: str) -> httpx.Response:
    headers = {"Origin": origin, "Access-Control-Request-Method": method} | extra
    return httpx.options(f"{url}/predict", headers=headers, timeout=15)


@pytest.mark.parametrize("origin", [OPS, EVIL, "null"])
def test_without_configured_origins_no_cors_header_is_ever_sent(
    service: RunningService, listing: dict[str, Any], origin: str
) -> None:
    assert service.settings.cors_origins == []
    replies = [
        httpx.post(f"{service.url}/predict", json=listing, headers={"Origin": origin}),
        httpx.get(f"{service.url}/model", headers={"Origin": origin}),
        _preflight(service.url, origin, **{"Access-Control-Request-Headers": "content-type"}),
    ]
    assert replies[0].status_code == 200
    assert [_cors_headers(reply) for reply in replies] == [{}, {}, {}]


def test_a_configured_origin_may_read_and_predict(
    exposed: RunningService, listing: dict[str, Any]
) -> None:
    posted = httpx.post(f"{exposed.url}/predict", json=listing, headers={"Origin": OPS})
    assert posted.status_code == 200
    assert posted.headers["access-control-allow-origin"] == OPS
    assert VERSION_HEADER.lower() in posted.headers["access-control-expose-headers"].lower()
    assert "origin" in posted.headers["vary"].lower()  # caches must not serve it to others
    read = httpx.get(f"{exposed.url}/model", headers={"Origin": OPS})
    assert read.headers["access-control-allow-origin"] == OPS
    asked = _preflight(exposed.url, OPS, **{"Access-Control-Request-Headers": "content-type"})
    assert asked.status_code == 200
    assert asked.headers["access-control-allow-origin"] == OPS
    methods = {m.strip() for m in asked.headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST"}
    assert "access-control-allow-credentials" not in asked.headers


def test_other_origins_methods_and_the_authorization_header_get_no_cors_grant(
    exposed: RunningService, listing: dict[str, Any]
) -> None:
    posted = httpx.post(f"{exposed.url}/predict", json=listing, headers={"Origin": EVIL})
    assert "access-control-allow-origin" not in posted.headers
    assert "access-control-allow-origin" not in _preflight(exposed.url, EVIL).headers
    for method in ("PUT", "DELETE", "PATCH"):
        assert _preflight(exposed.url, OPS, method).status_code == 400
    # Admin routes stay out of browsers: a page may not send the token.
    with_token = _preflight(exposed.url, OPS, **{"Access-Control-Request-Headers": "authorization"})
    assert with_token.status_code == 400


def _secrets(service: RunningService) -> dict[str, str]:
    settings = service.settings
    return {
        "the MLflow tracking URI": settings.tracking_uri,
        "the FLEETCAST_HOME path": str(settings.home),
        "the Redis URL": settings.redis_url,
        "the Redis address": service.redis.url.removeprefix("redis://").split("/")[0],
        "the admin token": settings.admin_token.get_secret_value(),
    }


def _assert_no_secret(service: RunningService, replies: dict[str, httpx.Response]) -> None:
    for name, secret in _secrets(service).items():
        leaks = [what for what, reply in replies.items() if secret in reply.text]
        assert not leaks, f"{name} is in the answer to: {leaks}"


def _everyday_replies(
    service: RunningService, listing: dict[str, Any]
) -> dict[str, httpx.Response]:
    get = lambda path: httpx.get(f"{service.url}{path}", timeout=15)  # noqa: E731
    big = {"listings": [listing] * (service.settings.max_batch + 1)}
    return {
        "GET /model": get("/model"),
        "GET /docs.json": get("/docs.json"),
        "GET /metrics": get("/metrics"),
        "GET /readyz": get("/readyz"),
        "an invalid listing": service.post("/predict", listing | {"technology": 7}),
        "an unknown vehicle": service.post("/predict_by_id", {"vehicle_id": 41_000_003}),
        "a wrong token": service.post("/reload", {}, headers={"Authorization": "Bearer x"}),
        "a batch over the maximum": service.post("/predict_batch", big),
        "a body over the limit": service.post("/predict", "x" * service.settings.max_request_bytes),
        "text/plain": httpx.post(
            f"{service.url}/predict", content=b"{}", headers={"content-type": "text/plain"}
        ),
        "an unknown route": get("/nope"),
    }


def test_no_answer_holds_an_address_a_path_or_a_secret(
    service: RunningService, listing: dict[str, Any]
) -> None:
    replies = _everyday_replies(service, listing)
    assert replies["GET /model"].status_code == 200
    _assert_no_secret(service, replies)


@pytest.mark.slow
def test_with_redis_down_the_503s_hold_no_address(
    service: RunningService, known_vehicle: int
) -> None:
    service.redis.stop()
    try:
        replies = {
            "a lookup": service.post("/predict_by_id", {"vehicle_id": known_vehicle}),
            "a registration": service.post("/vehicles", vehicle(41_000_004), headers=service.admin),
            "GET /model": httpx.get(f"{service.url}/model", timeout=15),
        }
    finally:
        service.redis.start()
    assert replies["a lookup"].status_code == 503 and replies["a registration"].status_code == 503
    _assert_no_secret(service, replies)
    deadline = time.monotonic() + HEAL_TIMEOUT_S  # leave the store healed for the next tests
    while service.post("/predict_by_id", {"vehicle_id": known_vehicle}).status_code != 200:
        assert time.monotonic() < deadline, "lookups did not come back with Redis"
        time.sleep(0.2)


def _register_missing(service: RunningService, source: Any) -> str:
    """A version whose files would be under FLEETCAST_HOME but are not: it fails to load."""
    missing = Path(service.settings.home) / "mlflow" / "artifacts" / "missing-model"
    client, _ = model_registry.connect(service.settings)
    version = client.create_model_version(
        service.settings.registered_model,
        missing.as_uri(),
        run_id=source.run_id,
        tags=training_tags(source.tags),
    ).version
    return str(version)


def _reload_every_worker(service: RunningService) -> None:
    """Leave the shared service as found: POST /reload (each reaches one worker) until every
    worker's last reload succeeded, so later tests do not see this test's failed attempt."""
    deadline = time.monotonic() + HEAL_TIMEOUT_S
    while True:
        assert service.post("/reload", {}, headers=service.admin).status_code == 200
        try:
            service.each_worker(lambda info: info["last_reload"]["outcome"] != "failed", 2.0)
            return
        except AssertionError:
            assert time.monotonic() < deadline, "a worker still reports the failed load"


def test_a_failed_load_is_reported_without_an_address_or_a_path(
    service: RunningService, trained_model: Any
) -> None:
    serving = httpx.get(f"{service.url}/model", timeout=15).json()["version"]
    missing = _register_missing(service, trained_model)
    client, _ = model_registry.connect(service.settings)
    name = service.settings.registered_model
    client.set_registered_model_alias(name, CHAMPION, missing)
    try:
        reloaded = service.post("/reload", {}, headers=service.admin)
        assert reloaded.status_code == 200 and reloaded.json()["outcome"] == "failed"
        report = httpx.get(f"{service.url}/model", timeout=15)
    finally:
        client.set_registered_model_alias(name, CHAMPION, serving)
        _reload_every_worker(service)
    assert reloaded.json()["message"]  # the reason is still given
    _assert_no_secret(service, {"POST /reload": reloaded, "GET /model": report})
