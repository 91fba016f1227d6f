"""One error shape everywhere: `{"error": code, "message": text}`, never a stack trace.

`ApiError` carries a machine code; HTTP errors raised by the framework (404, 405) and
validation errors are converted to the same shape. `CatchAllMiddleware` turns a lost
database (a PostgreSQL restart, a pool that cannot connect) into 503 `database_unavailable`
with `Retry-After` on every route, anything else unexpected into a bare 500, and logs only
the exception type, so no secret or trace leaks into a response or a log line.
"""

from __future__ import annotations

import json
import logging
import os
import traceback

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("serving.errors")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
    500: "internal",
    502: "upstream_error",
    503: "not_ready",
    504: "upstream_timeout",
}


# psycopg's OperationalError covers a refused or lost connection and the pool's PoolTimeout.
DATABASE_UNAVAILABLE = (psycopg.OperationalError,)
DATABASE_RETRY_AFTER_SECONDS = 5


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    error: str
    message: str


class ApiError(StarletteHTTPException):
    """An error answered as `{"error": code, "message": …}`, plus `extra` fields when a client
    needs more (which budget is exhausted, when it resets)."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.code = code
        self.extra = extra or {}


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": code, "message": message, **(extra or {})}
    return JSONResponse(body, status_code=status, headers=headers)


def error_responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses` entries for the given error statuses, all `ErrorBody`."""
    return {s: {"model": ErrorBody, "description": _CODES.get(s, "error")} for s in statuses}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or _CODES.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(
        exc.status_code, code, message, getattr(exc, "headers", None), getattr(exc, "extra", None)
    )


def _describe(error: dict) -> str:
    where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
    if error.get("type") == "string_too_short" and error.get("ctx", {}).get("min_length") == 1:
        return f"{where}: is empty"  # plainer than pydantic's "at least 1 character"
    return f"{where}: {error.get('msg', 'invalid')}"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        message = "the request body is not valid JSON"
    else:
        message = "; ".join(_describe(e) for e in errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class CatchAllMiddleware:
    """Outermost guard: a lost database becomes a JSON 503 with `Retry-After`, any other
    unexpected exception a JSON 500; neither carries a trace."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            unavailable = isinstance(exc, DATABASE_UNAVAILABLE)
            log.log(
                logging.WARNING if unavailable else logging.ERROR,
                "%s %s on %s %s at %s",
                "database unavailable:" if unavailable else "unhandled",
                type(exc).__name__,
                scope["method"],
                scope["path"],
                _where(exc),
            )
            if started:
                return  # the client sees a cut response; nothing better can be sent now
            if unavailable:
                status, code, message = 503, "database_unavailable", "the database is unavailable"
                headers = [(b"retry-after", str(DATABASE_RETRY_AFTER_SECONDS).encode())]
            else:
                status, code, message, headers = 500, "internal", "internal error", []
            body = json.dumps({"error": code, "message": message}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        *headers,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """413 for bodies over `max_bytes`, decided before anything parses them.

    A declared `Content-Length` over the cap is refused at once; a body without one
    (chunked) is counted while it is read and refused as soon as it passes the cap.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Routes with their own contract-given cap (the webhook intake takes 256 KiB).
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length")
        too_large = ApiError(413, "body_too_large", f"the body exceeds {max_bytes} bytes")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0 or length > max_bytes:
                status, code, message = (
                    (413, too_large.code, too_large.detail)
                    if length > 0
                    else (400, "bad_request", "invalid Content-Length")
                )
                await error_response(status, code, message)(scope, receive, send)
                return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise too_large  # FastAPI re-raises HTTPExceptions from body reading
            return message

        await self.app(scope, counting_receive, send)


def _where(exc: BaseException) -> str:
    """The innermost frame as `file:line in function`: enough to find the bug, without the
    stack trace or exception message (either could carry data we must not log)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown location"
    last = frames[-1]
    return f"{os.path.relpath(last.filename)}:{last.lineno} in {last.name}"
