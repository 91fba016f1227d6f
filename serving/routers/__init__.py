"""One router per resource. To add one, write `serving/routers/<name>.py` exposing `router`
and append it to `ROUTERS` below."""

from __future__ import annotations

from fastapi import APIRouter

from pressrag.serving.routers import ask, connection, health, metrics, search, sites, webhooks

ROUTERS: list[APIRouter] = [
    health.router,
    search.router,
    ask.router,
    sites.router,
    connection.router,
    metrics.router,
    webhooks.router,
]
