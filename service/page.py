"""The web page at /ui: static files from service/static/, served by the service itself.

Same origin as the API, so the page needs no CORS and no second server. Its policy lets it load
and call nothing but this origin: no CDN, no inline script, no framing by another site.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from features.contract.routes import PAGE_PATH

STATIC = Path(__file__).resolve().parent / "static"
INDEX = "index.html"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
router = APIRouter(include_in_schema=False)


def _asset(name: str) -> tuple[bytes, str, str] | None:
    """A static file's bytes, media type and ETag; None for any name not shipped in STATIC."""
    path = STATIC / name
    if path.parent != STATIC or path.suffix not in _MEDIA_TYPES or not path.is_file():
        return None  # only top-level files of a known type: no traversal, no stray files
    body = path.read_bytes()  # a few KB, read per request: an edited file is served at once
    return body, _MEDIA_TYPES[path.suffix], f'"{hashlib.sha256(body).hexdigest()[:16]}"'


def page_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The headers of every /ui reply: the policy, and no guessing of types or referrers."""
    return {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        **(extra or {}),
    }


def _serve(name: str, request: Request) -> Response:
    found = _asset(name)
    if found is None:
        return JSONResponse({"error": f"{PAGE_PATH}/{name}: no such file"}, 404)
    body, media_type, etag = found
    # Revalidated on every load: a new release is seen at once, an unchanged file costs a 304.
    headers = page_headers({"ETag": etag, "Cache-Control": "no-cache"})
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get(PAGE_PATH)
@router.get(f"{PAGE_PATH}/")
async def index(request: Request) -> Response:
    """The page."""
    return _serve(INDEX, request)


@router.get(f"{PAGE_PATH}/{{name}}")
async def asset(name: str, request: Request) -> Response:
    """The page's scripts, styles and icons."""
    return _serve(name, request)
