"""Liveness (`/healthz`: the process answers) and readiness (`/readyz`: database and model)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from pressrag.serving.deps import ServicesDep
from pressrag.serving.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


def _database_ok(services: ServicesDep) -> bool:
    components = services.components
    if components is None:
        return False
    try:
        with components.store.pool.connection(timeout=2.0) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready"}},
    summary="Database reachable and model loaded",
)
async def readyz(services: ServicesDep) -> JSONResponse:
    components = services.components
    database = await run_in_threadpool(_database_ok, services)
    model = components is not None and bool(getattr(components.embedder, "loaded", True))
    ready = database and model
    body = Readiness(
        status="ready" if ready else "not_ready",
        database=database,
        model=model,
        answerer=components.answerer.mode if components else None,
        detail=None if ready else (services.startup_error or "starting"),
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
