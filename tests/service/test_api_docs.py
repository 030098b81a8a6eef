"""The API docs a user opens: BentoML's Swagger at `/`, whose examples execute as shown."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from support.service_fixtures import RunningService

EXAMPLE_ROUTES = ("/predict", "/predict_batch", "/predict_by_id")


def _example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """The body Swagger's "Try it out" pre-fills for `schema`: an `example` where the schema
    has one, else one built from its properties or items."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    if "example" in schema:
        return schema["example"]
    if schema.get("type") == "array" or "items" in schema:
        return [_example(schema["items"], components)]
    if "properties" in schema:
        return {k: _example(v, components) for k, v in schema["properties"].items()}
    raise AssertionError(f"no example Swagger could pre-fill for {schema}")


def test_every_swagger_example_executes(service: RunningService) -> None:
    spec = httpx.get(f"{service.url}/docs.json", timeout=10).json()
    components = spec["components"]["schemas"]
    for route in EXAMPLE_ROUTES:
        body = spec["paths"][route]["post"]["requestBody"]["content"]["application/json"]
        example = _example(body["schema"], components)
        reply = httpx.post(f"{service.url}{route}", json=example, timeout=10)
        assert reply.status_code == 200, (route, example, reply.text)


def test_swagger_is_served_at_the_root_and_no_page_loads_from_a_cdn(
    service: RunningService,
) -> None:
    root = httpx.get(f"{service.url}/", timeout=10)
    assert root.status_code == 200 and "swagger" in root.text.lower()
    assert "cdn." not in root.text
    for path in ("/docs", "/redoc"):  # FastAPI's CDN-loaded pages are off
        assert httpx.get(f"{service.url}{path}", timeout=10).status_code == 404
