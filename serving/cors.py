"""CORS for the sites' registered origins only, decided per request from the database.

A preflight from a registered origin gets the allow headers; one from any other origin
gets a 403 without `Access-Control-Allow-Origin`, so the browser blocks the call. Which
site an origin may read is enforced later by the token (its `origin` claim must be one of
that site's origins and equal the `Origin` header).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pressrag.serving.directory import normalize_origin
from pressrag.serving.errors import DATABASE_UNAVAILABLE, error_response

ALLOW_METHODS = "GET, POST, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Accept"
EXPOSE_HEADERS = "Retry-After"
MAX_AGE = "600"


class SiteCORSMiddleware:
    def __init__(self, app: ASGIApp, allowed_origins: Callable[[], frozenset[str]]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins  # blocking (may read the database)

    async def _allowed(self, origin: str) -> bool:
        try:
            origins = await run_in_threadpool(self.allowed_origins)
        except DATABASE_UNAVAILABLE:
            raise  # answered 503 + Retry-After by CatchAllMiddleware, like every route
        except Exception:
            return False  # not ready yet: refuse, never allow by default
        return normalize_origin(origin) in origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        allowed = await self._allowed(origin)
        preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
        if preflight:
            if not allowed:
                response = error_response(403, "origin_not_allowed", "this origin is not allowed")
                response.headers["Vary"] = "Origin"
            else:
                response = error_response(200, "ok", "preflight accepted")
                response.headers.update(
                    {
                        "Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": ALLOW_METHODS,
                        "Access-Control-Allow-Headers": ALLOW_HEADERS,
                        "Access-Control-Max-Age": MAX_AGE,
                        "Vary": "Origin",
                    }
                )
            await response(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)
