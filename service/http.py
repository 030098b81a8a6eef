"""HTTP plumbing shared by every route: error replies, the admin check, the body-size limit."""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import bentoml
from starlette.responses import JSONResponse

from features.settings import Settings

VERSION_HEADER = "X-Model-Version"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]


def error(ctx: bentoml.Context, status: int, message: str) -> JSONResponse:
    """A JSON error reply (`{"error": ...}`) with `status`."""
    # BentoML copies ctx's status onto any returned response: both must agree.
    ctx.response.status_code = status
    return JSONResponse({"error": message}, status_code=status)


def admin_refusal(settings: Settings, ctx: bentoml.Context) -> JSONResponse | None:
    """None if the request carries the admin token; else the reply refusing it."""
    if settings.admin_token is None:
        return error(ctx, 403, "admin routes are disabled: set FLEETCAST_ADMIN_TOKEN to enable")
    header = ctx.request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    # Constant-time compare: the reply time must not leak how much of a guess was right.
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected):
        return error(ctx, 401, "admin route: send 'Authorization: Bearer <FLEETCAST_ADMIN_TOKEN>'")
    return None


class BodySizeLimit:
    """ASGI middleware: 413 for a request body over `max_bytes`, declared or streamed."""

    def __init__(self, app: Callable[..., Awaitable[None]], max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, send: Callable[[Message], Awaitable[None]]) -> None:
        body = json.dumps({"error": f"request body over {self.max_bytes} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

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
