"""Server-sent event framing (one JSON object per event, per docs/contracts.md)."""

from __future__ import annotations

import json
from typing import Any

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def sse_event(event: str, data: dict[str, Any]) -> bytes:
    """`event: NAME` + one `data:` line; compact JSON never contains a raw newline."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def wants_event_stream(accept: str | None) -> bool:
    return bool(accept) and "text/event-stream" in accept.lower()
