"""The backend's client for the plugin's callback route (`POST …/pressrag/v1/callback`).

One signed JSON message per request (see `signing.py` and docs/contracts.md). Retrying is not
done here: a failed send raises `CallbackError` saying whether trying again can help (a network
error, a timeout, 429 or 5xx) or not (a refused signature, a missing route, a redirect), and the
caller's Dagster retry policy does the rest. Every attempt is signed afresh with a new id, so a
retry is never mistaken for a replay; the messages themselves are idempotent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from pressrag.resources.errors import PressRAGError
from pressrag.resources.writeback.signing import callback_headers

ROUTE = "/pressrag/v1/callback"
USER_AGENT = "PressRAG-writeback/0.1"
_RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class CallbackError(PressRAGError):
    """A callback WordPress did not accept; `retryable` says whether trying again may help,
    `no_route` that the site has no PressRAG plugin (0.3 or later) to call."""

    def __init__(self, message: str, *, retryable: bool, no_route: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.no_route = no_route


def callback_url(base_url: str) -> str:
    """The plugin's route through `?rest_route=`, which works with or without pretty
    permalinks (a site without them answers `/wp-json/…` with its HTML 404 page)."""
    return f"{base_url.rstrip('/')}/?rest_route={ROUTE}"


def encode(message: dict[str, Any]) -> bytes:
    """The exact bytes that are signed and sent (compact UTF-8 JSON)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class WordPressCallbacks:
    """Sends callbacks to one site's plugin, signed with each of the site's webhook secrets."""

    site_id: str
    base_url: str
    secrets: tuple[str, ...]
    timeout: float = 30.0
    transport: httpx.BaseTransport | None = None

    def send(self, message: dict[str, Any]) -> dict[str, Any]:
        """POST one message; the plugin's JSON answer, or `CallbackError`."""
        body = encode(message)
        headers = callback_headers(list(self.secrets), self.site_id, body)
        headers["User-Agent"] = USER_AGENT
        url = callback_url(self.base_url)
        try:
            with httpx.Client(transport=self.transport, follow_redirects=False) as client:
                response = client.post(url, content=body, headers=headers, timeout=self.timeout)
        except httpx.TimeoutException:
            raise CallbackError(
                f"WordPress at {self.base_url} did not answer the callback within "
                f"{self.timeout:.0f} s",
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise CallbackError(
                f"cannot reach WordPress at {self.base_url}: {type(exc).__name__}", retryable=True
            ) from None
        return _answer(response, self.base_url)


def _answer(response: httpx.Response, base_url: str) -> dict[str, Any]:
    status = response.status_code
    code = _error_code(response)
    if 200 <= status < 300:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise CallbackError(
                f"WordPress at {base_url} answered the callback with HTTP {status} but no JSON "
                "object: is the PressRAG plugin active?",
                retryable=False,
            )
        return data
    if 300 <= status < 400:
        where = response.headers.get("location", "elsewhere")
        raise CallbackError(
            f"WordPress at {base_url} redirects the callback to {where}: register the site "
            "with its final URL (`pressrag sites add SITE --url …`)",
            retryable=False,
        )
    if status == 401:
        raise CallbackError(
            f"WordPress at {base_url} refused the callback ({code or 'HTTP 401'}): the plugin's "
            "webhook secret is not one of this site's (Settings → PressRAG → Test connection)",
            retryable=False,
        )
    if status == 404 and code == "rest_no_route":
        raise CallbackError(
            f"WordPress at {base_url} has no {ROUTE} route: the PressRAG plugin (0.3 or "
            "later) is not active there",
            retryable=False,
            no_route=True,
        )
    raise CallbackError(
        f"WordPress at {base_url} answered the callback with HTTP {status}"
        + (f" ({code})" if code else ""),
        retryable=status in _RETRYABLE,
    )


def _error_code(response: httpx.Response) -> str:
    """WordPress's REST error code (`{"code": …}`), if the body has one."""
    try:
        data = response.json()
    except ValueError:
        return ""
    code = data.get("code") if isinstance(data, dict) else None
    return str(code)[:100] if isinstance(code, str) else ""
