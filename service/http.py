"""HTTP plumbing shared by every route: error replies, the admin check, the body limits, CORS
and the documented error bodies."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.responses import JSONResponse

from features.settings import Settings
from service.schemas import ErrorBody

VERSION_HEADER = "X-Model-Version"
REQUEST_ID_HEADER = "X-Request-Id"  # the id the prediction log stores with the answer
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def error(
    ctx: bentoml.Context, status: int, message: str, detail: list[dict[str, Any]] | None = None
) -> JSONResponse:
    """A JSON error reply (`{"error": ..., "detail": [...]}`, an ErrorBody) with `status`."""
    # BentoML copies ctx's status onto any returned response: both must agree.
    ctx.response.status_code = status
    body = {"error": message} if detail is None else {"error": message, "detail": detail}
    return JSONResponse(body, status_code=status)


ADMIN_ROUTES = frozenset({"/vehicles", "/reload"})


def admin_refusal(settings: Settings, authorization: str) -> tuple[int, str] | None:
    """None if `authorization` carries the admin token; else the status and reason to refuse."""
    # An empty token (FLEETCAST_ADMIN_TOKEN= in a compose file) would match "Bearer ": it is off.
    if settings.admin_token is None or not settings.admin_token.get_secret_value().strip():
        return 403, "admin routes are disabled: set FLEETCAST_ADMIN_TOKEN to enable them"
    scheme, _, token = authorization.partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    # Constant-time compare: the reply time must not leak how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        return 401, "admin route: send 'Authorization: Bearer <FLEETCAST_ADMIN_TOKEN>'"
    return None


async def _reply(send: Send, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdminGate:
    """ASGI middleware: admin routes check the token before anything reads the body."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in ADMIN_ROUTES:
            headers = dict(scope["headers"])
            authorization = headers.get(b"authorization", b"").decode("latin-1")
            refusal = admin_refusal(self.settings, authorization)
            if refusal is not None:
                return await _reply(send, *refusal)
        return await self.app(scope, receive, send)


class QuietClientErrors(logging.Filter):
    """BentoML logs a full traceback for every invalid request; make those one warning line.

    Bad input is the client's error, not the server's: a stream of it must not flood the log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, ValidationError | ServiceUnavailable) or (
            isinstance(error, BentoMLException) and error.error_code.value < 500
        ):
            first_line = str(error).splitlines()[0] if str(error) else ""
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {first_line}"
            record.args, record.exc_info, record.exc_text = (), None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_client_errors() -> None:
    """Install QuietClientErrors on BentoML's request-error logger (idempotent)."""
    bentoml_errors = logging.getLogger("bentoml._internal.server.http_app")
    if not any(isinstance(f, QuietClientErrors) for f in bentoml_errors.filters):
        bentoml_errors.addFilter(QuietClientErrors())


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: App, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Send) -> None:
        await _reply(send, 413, f"request body over {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._reject(send)
        chunks, size, more = [], 0, True
        while more:  # buffer (at most max_bytes) so a chunked body is bounded too
            message = await receive()
            if message["type"] != "http.request":
                return None  # client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.max_bytes:
                return await self._reject(send)
        body, replayed = b"".join(chunks), False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)


def cors(origins: list[str]) -> dict[str, Any]:
    """BentoML's CORS config: off (no CORS header at all) unless origins are configured."""
    if not origins:
        return {"enabled": False}
    return {
        "enabled": True,
        "access_control_allow_origins": origins,
        # Reads and predictions only. No Authorization header: admin routes stay out of browsers.
        "access_control_allow_methods": ["GET", "POST"],
        "access_control_allow_headers": ["Content-Type"],
        "access_control_expose_headers": [VERSION_HEADER, REQUEST_ID_HEADER],
    }


NOT_JSON = "content-type: send the body as JSON, with 'Content-Type: application/json'"


class JsonOnly:
    """ASGI middleware: 415 for a request body not declared `application/json`.

    Browsers send text/plain and form bodies to other origins without a CORS preflight;
    refusing them keeps other sites' pages from feeding the service (and its prediction log).
    It also keeps BentoML's form and multipart parsers, which answer 500 to malformed input,
    out of reach.
    """

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            headers = dict(scope["headers"])
            media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = headers.get(b"content-length", b"0") != b"0" or (
                b"transfer-encoding" in headers
            )
            if has_body and media_type != b"application/json":
                return await _reply(send, 415, NOT_JSON)
        return await self.app(scope, receive, send)


_PROBES = frozenset({"/healthz", "/livez", "/readyz", "/metrics"})  # BentoML's, not JSON


def _openapi_3_0_bounds(node: Any) -> None:
    """Pydantic writes JSON Schema 2020 bounds (`"exclusiveMinimum": 0`) into BentoML's
    OpenAPI 3.0 document, where they must read `"minimum": 0, "exclusiveMinimum": true`."""
    if isinstance(node, list):
        for item in node:
            _openapi_3_0_bounds(item)
    if not isinstance(node, dict):
        return
    for exclusive, inclusive in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        bound = node.get(exclusive)
        if isinstance(bound, int | float) and not isinstance(bound, bool):
            node[inclusive], node[exclusive] = bound, True
    for value in node.values():
        _openapi_3_0_bounds(value)


def published_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """`spec` (BentoML's OpenAPI) made valid OpenAPI 3.0, with the error bodies really sent.

    BentoML documents a 400's `detail` as a string (it is a list of field errors) and leaves
    out 401, 403, 409, 413, 415 and 503: each API route gets a `default` ErrorBody reply.
    """
    _openapi_3_0_bounds(spec)
    error = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(error.pop("$defs", {}))
    schemas["ErrorBody"] = error
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):  # BentoML's own
        schemas[name] = error | {"title": name}
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    other = {"description": "Any other error", "content": content}
    invalid = {"description": "Invalid input: each field and rule named", "content": content}
    for path, item in spec.get("paths", {}).items():
        for operation in item.values() if path not in _PROBES else ():
            if isinstance(operation, dict) and "responses" in operation:
                responses = operation["responses"]
                # FastAPI's 422 is answered as a 400 ErrorBody (`invalid_request`).
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", invalid)
                responses.setdefault("default", other)
    return spec


async def invalid_request(request: Any, failure: Exception) -> JSONResponse:
    """A FastAPI route's invalid input as every route answers it: a 400 ErrorBody naming each
    parameter and rule (FastAPI's own is a 422 without `error`)."""
    errors = failure.errors() if isinstance(failure, RequestValidationError) else []
    detail = [
        {"loc": [str(p) for p in e["loc"][1:]], "msg": e["msg"], "type": e["type"]} for e in errors
    ]
    named = "; ".join(f"{'.'.join(d['loc'])}: {d['msg']}" for d in detail) or "invalid request"
    return JSONResponse({"error": named, "detail": detail}, status_code=400)


class PublishedSpec:
    """ASGI middleware: GET /docs.json answers `published_spec` of BentoML's spec."""

    def __init__(self, app: App) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/docs.json":
            return await self.app(scope, receive, send)
        messages: list[Message] = []

        async def keep(message: Message) -> None:
            messages.append(message)

        await self.app(scope, receive, keep)
        start, chunks = messages[0], [m.get("body", b"") for m in messages[1:]]
        if start["status"] != 200:
            for message in messages:
                await send(message)
            return
        body = json.dumps(published_spec(json.loads(b"".join(chunks)))).encode()
        headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", b"%d" % len(body)))
        await send({**start, "headers": headers})
        await send({"type": "http.response.body", "body": body})
