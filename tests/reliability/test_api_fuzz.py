"""Schemathesis against the running service's own OpenAPI (/docs.json), every route with the
admin token and without: no 5xx, every 4xx a JSON error naming the problem, every body as
documented. Then the malformed requests a schema-driven generator never writes."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from support import api

from features.contract.schema import ENTITY

if TYPE_CHECKING:
    from schemathesis import APIOperation, BaseSchema, Case, CheckContext, Response
    from support.service_fixtures import RunningService

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Reproducible in CI: the same cases every run, nothing written to .hypothesis/.
FUZZ = settings(
    max_examples=110,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
MIN_CASES = 1000
OPERATIONS = [
    "GET /healthz",
    "GET /livez",
    "GET /readyz",
    "GET /metrics",
    "GET /model",
    "GET /model/history",
    "GET /workers",
    "GET /vehicles/{vehicle_id}",
    "GET /drift/latest",
    "POST /predict",
    "POST /predict_batch",
    "POST /predict_by_id",
    "POST /reload",
    "POST /vehicles",
]
TOKENS = ["no token", "admin token"]
RESERVED_IDS = 900_000_000  # fuzzed registrations land above every id a snapshot holds
CASES: Counter[tuple[str, str]] = Counter()  # (token, "POST /predict") -> cases sent


def error_bodies(ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 4xx names the problem in a JSON object: `{"error": "...", "detail": [...]}`."""
    if 400 <= response.status_code < 500:
        content_type = response.headers.get("content-type", [""])[0]
        api.error_message(response.status_code, content_type, response.content)
    return None


@pytest.fixture(scope="module")
def api_schema(service: RunningService) -> BaseSchema:
    """The OpenAPI the service publishes, as a client would read it."""
    return schemathesis.openapi.from_url(f"{service.url}/docs.json")


def test_every_published_operation_is_fuzzed(api_schema: BaseSchema) -> None:
    published = {result.ok().label for result in api_schema.get_all_operations()}
    assert published == set(OPERATIONS)


def _cases(operation: APIOperation) -> st.SearchStrategy[Case]:
    """Valid and invalid requests (an operation without a body has only valid ones)."""
    valid = operation.as_strategy(GenerationMode.POSITIVE)
    if not operation.body:
        return valid
    return st.one_of(valid, operation.as_strategy(GenerationMode.NEGATIVE))


def _reserve_ids(case: Case) -> None:
    """The session's online store is shared: a fuzzed registration must not overwrite the
    features of a vehicle other tests read, so its id moves above every real one."""
    body = case.body
    if case.operation.path == "/vehicles" and isinstance(body, dict):
        vehicle_id = body.get(ENTITY)
        if type(vehicle_id) is int and 0 < vehicle_id < RESERVED_IDS:
            case.body = body | {ENTITY: RESERVED_IDS + vehicle_id % 1_000_000}


@pytest.mark.parametrize("token", TOKENS)
@pytest.mark.parametrize("label", OPERATIONS)
def test_fuzzed_requests_get_no_5xx_and_documented_answers(
    api_schema: BaseSchema, service: RunningService, label: str, token: str
) -> None:
    headers = service.admin if token == "admin token" else {}
    checks = [not_a_server_error, response_schema_conformance, error_bodies]

    @FUZZ
    @given(case=_cases(api_schema.find_operation_by_label(label)))
    def send(case: Case) -> None:
        _reserve_ids(case)
        response = case.call(base_url=service.url, headers=headers, timeout=30)
        CASES[token, label] += 1
        case.validate_response(response, checks=checks)

    send()


def test_the_fuzzing_sent_at_least_1000_cases(api_schema: BaseSchema) -> None:
    if not CASES:
        pytest.skip("counts the cases of this module's fuzz tests: run them first")
    table = "\n".join(f"{n:6d}  {token:12s} {label}" for (token, label), n in sorted(CASES.items()))
    print(f"\ncases sent:\n{table}\n{sum(CASES.values()):6d}  in total")
    assert len(CASES) == len(OPERATIONS) * len(TOKENS), table
    assert sum(CASES.values()) >= MIN_CASES, table


ROUTES = ["/predict", "/predict_batch", "/predict_by_id"]


@pytest.mark.parametrize("path", [*ROUTES, "/vehicles"])
@pytest.mark.parametrize("depth", ["lists", "objects"])
def test_deeply_nested_json_is_400(service: RunningService, path: str, depth: str) -> None:
    levels = service.settings.max_request_bytes // 8  # as deep as the size limit lets through
    opened, closed = ("[", "]") if depth == "lists" else ('{"a":', "}")
    body = (opened * levels + "1" + closed * levels).encode()
    assert len(body) <= service.settings.max_request_bytes
    reply = api.post(service, path, body)
    assert reply.status_code == 400, reply.text
    assert "recursion limit" in api.error_message(
        400, reply.headers["content-type"], reply.content
    ) + (reply.text)


@pytest.mark.parametrize("path", [*ROUTES, "/vehicles"])
def test_an_empty_body_is_400_naming_each_required_field(
    service: RunningService, path: str
) -> None:
    required = {"/predict_batch": ["listings"], "/predict_by_id": [ENTITY]}
    fields = required.get(path, ["technology", "actual_price", "description"])
    api.names(api.post(service, path, b""), *fields)


@pytest.mark.parametrize("path", [*ROUTES, "/vehicles"])
@pytest.mark.parametrize("body", [b'{"technology": "\xff\xfe"}', b"\xc3\x28", b"\xed\xa0\x80"])
def test_invalid_utf8_is_400(service: RunningService, path: str, body: bytes) -> None:
    reply = api.post(service, path, body)
    assert reply.status_code == 400, reply.text
    assert "Invalid JSON" in reply.text
    api.error_message(400, reply.headers["content-type"], reply.content)


NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"]


@pytest.mark.parametrize("literal", NON_FINITE)
def test_non_finite_numbers_are_400_naming_the_field_on_every_route(
    service: RunningService, listing: dict[str, Any], literal: str
) -> None:
    def body(document: Any) -> bytes:
        return json.dumps(document).replace('"HERE"', literal).encode()

    priced = listing | {"actual_price": "HERE"}
    api.names(api.post(service, "/predict", body(priced)), "actual_price")
    batch = {"listings": [listing, priced]}
    api.names(api.post(service, "/predict_batch", body(batch)), "listings.1.actual_price")
    api.names(api.post(service, "/predict_by_id", body({ENTITY: "HERE"})), ENTITY)
    record = priced | {ENTITY: RESERVED_IDS}
    api.names(api.post(service, "/vehicles", body(record)), "actual_price")


WRONG_TYPES = {  # case -> (content-type header, or None for none; the body as sent)
    "text/plain": ("text/plain", "listing"),
    "no content type": (None, "listing"),
    "a form": ("application/x-www-form-urlencoded", "technology=1&actual_price=60"),
    "multipart without a boundary": ("multipart/form-data", "garbage"),
    "multipart, a file of invalid UTF-8": ("multipart/form-data; boundary=b", "file"),
    "xml": ("application/xml", "<listing/>"),
    "pickle": ("application/vnd.bentoml+pickle", "garbage"),
}
MULTIPART_FILE = (
    b'--b\r\nContent-Disposition: form-data; name="technology"; filename="a"\r\n'
    b"\r\n\xff\xfe\r\n--b--\r\n"
)


@pytest.mark.parametrize("path", [*ROUTES, "/vehicles"])
@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_a_body_that_is_not_json_is_415_with_a_json_error(
    service: RunningService, listing: dict[str, Any], path: str, case: str
) -> None:
    """Regression: BentoML parses forms and multipart too, and answered 500 to a multipart body
    without a boundary or with a file of invalid UTF-8 (and a JSON list to pickle)."""
    content_type, text = WRONG_TYPES[case]
    bodies = {
        "listing": json.dumps(listing | {ENTITY: RESERVED_IDS}).encode(),
        "file": MULTIPART_FILE,
    }
    reply = api.post(service, path, bodies.get(text, text.encode()), content_type)
    assert reply.status_code == 415, reply.text
    assert "application/json" in api.error_message(
        415, reply.headers["content-type"], reply.content
    )


def test_json_with_a_charset_is_still_json(service: RunningService, listing: dict) -> None:
    body = json.dumps(listing).encode()
    reply = api.post(service, "/predict", body, "application/json; charset=utf-8")
    assert reply.status_code == 200, reply.text


def test_a_content_length_over_the_limit_is_413_before_the_body_arrives(
    service: RunningService,
) -> None:
    declared = service.settings.max_request_bytes * 100
    head = api.raw_head(
        service, "/predict", "Content-Type: application/json", f"Content-Length: {declared}"
    )
    reply = api.raw_exchange(service.url, head, b"{}")  # 2 bytes of the declared ones: no waiting
    assert api.first_status(reply) == 413, reply[:300]
    assert "request body over" in api.first_json(reply)["error"]


def test_a_content_length_under_the_body_reads_only_what_it_declares(
    service: RunningService, listing: dict[str, Any]
) -> None:
    """The rest of a lying body is not part of the request: the declared bytes are judged (a
    truncated JSON: 400), the overflow is never buffered, and the service stays up."""
    body = json.dumps(listing).encode() + b" " * (service.settings.max_request_bytes * 2)
    head = api.raw_head(service, "/predict", "Content-Type: application/json", "Content-Length: 20")
    reply = api.raw_exchange(service.url, head, body)
    assert api.first_status(reply) == 400, reply[:300]
    assert "Invalid JSON" in str(api.first_json(reply))
    assert httpx.post(f"{service.url}/predict", json=listing, timeout=15).status_code == 200


def test_a_chunked_body_under_the_limit_is_read_whole(
    service: RunningService, listing: dict[str, Any]
) -> None:
    def chunks() -> Any:  # no Content-Length: the limit counts what streams in, then replays it
        text = json.dumps({"listings": [listing] * 3}).encode()
        yield from (text[i : i + 7] for i in range(0, len(text), 7))

    reply = httpx.post(
        f"{service.url}/predict_batch", content=chunks(), headers=api.JSON, timeout=15
    )
    assert "content-length" not in reply.request.headers
    assert reply.status_code == 200, reply.text
    assert len(reply.json()["predicted_reservations"]) == 3


INT64_MAX = 2**63 - 1


@pytest.mark.parametrize("field", ["num_images", "description"])
def test_integers_beyond_int64_are_400_naming_the_field(
    service: RunningService, listing: dict[str, Any], field: str
) -> None:
    """Regression: 10**400 in a count overflowed the float conversion (500); the contract stores
    counts as Int64, so more than its maximum is out of range."""
    for value in (INT64_MAX + 1, 10**400):
        body = json.dumps(listing | {field: value}).encode()
        api.names(api.post(service, "/predict", body), field)
    at_most = json.dumps(listing | {field: INT64_MAX}).encode()
    assert api.post(service, "/predict", at_most).status_code == 200


def test_an_id_beyond_int64_is_400_and_registers_nothing(
    service: RunningService, listing: dict[str, Any]
) -> None:
    """Regression: /vehicles with vehicle_id 2**63 overflowed the Int64 feature table (500)."""
    for value in (INT64_MAX + 1, 10**30):
        record = json.dumps(listing | {ENTITY: value}).encode()
        api.names(api.post(service, "/vehicles", record), ENTITY)
        ref = json.dumps({ENTITY: value}).encode()
        api.names(api.post(service, "/predict_by_id", ref), ENTITY)
    landed = service.settings.landing_dir.glob(f"api-vehicle-{INT64_MAX + 1}-*.csv")
    assert not list(landed)


def test_prices_whose_ratio_overflows_are_400_naming_the_derived_feature(
    service: RunningService, listing: dict[str, Any]
) -> None:
    """Regression: finite prices can give an infinite price_ratio (1e308 / 1e-308), which a
    scikit-learn model refuses with a 500; it is the client's input, so a 400."""
    extreme = listing | {"actual_price": 1e308, "recommended_price": 1e-308}
    api.names(api.post(service, "/predict", json.dumps(extreme).encode()), "price_ratio")
    batch = json.dumps({"listings": [listing, extreme]}).encode()
    api.names(api.post(service, "/predict_batch", batch), "listings.1.price_ratio")
    vehicle_id = RESERVED_IDS - 1
    record = json.dumps(extreme | {ENTITY: vehicle_id}).encode()
    api.names(api.post(service, "/vehicles", record), "price_ratio")
    by_id = api.post(service, "/predict_by_id", json.dumps({ENTITY: vehicle_id}).encode())
    assert by_id.status_code == 404  # refused before anything was stored


def test_the_published_openapi_is_valid_3_0_and_documents_the_errors_sent(
    service: RunningService,
) -> None:
    """Regression: the spec said OpenAPI 3.0.2 but carried JSON Schema 2020 bounds
    (`"exclusiveMinimum": 0`, which generators reject), a 400 `detail` typed as a string (it
    is a list of field errors), and no word of 401, 403, 409, 413, 415 or 503."""
    spec = httpx.get(f"{service.url}/docs.json", timeout=15).json()
    assert spec["openapi"].startswith("3.0")
    for schema in api.nested_objects(spec):
        for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            assert schema.get(bound) in (None, True, False), schema
            assert schema.get(bound) is not True or base in schema, schema
    errors = spec["components"]["schemas"]
    assert errors["InvalidArgument"]["properties"]["detail"]["anyOf"][0]["type"] == "array"
    for path in ("/predict", "/predict_batch", "/predict_by_id", "/vehicles", "/reload"):
        default = spec["paths"][path]["post"]["responses"]["default"]
        assert default["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")
