"""HTTP plumbing shared by every route: error replies, the admin check, the body-size limit."""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import bentoml
from bentoml.exceptions import BentoMLException, ServiceUnavailable
from pydantic import ValidationError
from starlette.responses import JSONResponse

from features.settings import Settings

VERSION_HEADER = "X-Model-Version"
REQUEST_ID_HEADER = "X-Request-Id"  # the id the prediction log stores with the answer
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def error(ctx: bentoml.Context, status: int, message: str) -> JSONResponse:
    """A JSON error reply (`{"error": ...}`) with `status`."""
    # BentoML copies ctx's status onto any returned response: both must agree.
    ctx.response.status_code = status
    return JSONResponse({"error": message}, status_code=status)


ADMIN_ROUTES = frozenset({"/vehicles", "/reload"})


def admin_refusal(settings: Settings, authorization: str) -> tuple[int, str] | None:
    """None if `authorization` carries the admin token; else the status and reason to refuse."""
    if settings.admin_token is None:
        return 403, "admin routes are disabled: set FLEETCAST_ADMIN_TOKEN to enable them"
    scheme, _, token = authorization.partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    # Constant-time compare: the reply time must not leak how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        return 401, "admin route: send 'Authorization: Bearer <FLEETCAST_ADMIN_TOKEN>'"
    return None


async def _reply(send: Callable[[Message], Awaitable[None]], status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AdminGate:
    """ASGI middleware: admin routes check the token before anything reads the body."""

    def __init__(self, app: Callable[..., Awaitable[None]], settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:  # fmt: skip
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

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Callable[[Message], Awaitable[None]]) -> None:
        await _reply(send, 413, f"request body over {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]],
                       send: Callable[[Message], Awaitable[None]]) -> None:  # fmt: skip
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
