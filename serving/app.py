"""The serving app: `create_app(settings)` wires settings, lifespan, middleware and routers.

Middleware, outermost first: catch-all 500 guard → metrics timing → CORS → body cap →
FastAPI's routing (with our JSON error handlers). Never imports Dagster.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from pressrag.serving.cors import SiteCORSMiddleware
from pressrag.serving.errors import BodyLimitMiddleware, CatchAllMiddleware, install_error_handlers
from pressrag.serving.logs import register_secret
from pressrag.serving.metrics import MetricsMiddleware
from pressrag.serving.routers import ROUTERS
from pressrag.serving.routers.webhooks import WEBHOOK_BODY_LIMITS
from pressrag.serving.settings import ServingSettings, get_serving_settings
from pressrag.serving.state import Services

DESCRIPTION = (
    "Search and cited answers over one WordPress site's public content. Browser calls carry "
    "a short-lived site token (HS256 JWT) minted by the WordPress plugin; server-to-server "
    "calls may use the admin API key. Every error is JSON `{error, message}`."
)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    settings = settings or get_serving_settings()
    services = Services.create(settings)
    for secret in (
        settings.admin_api_key,
        settings.openai_api_key,
        settings.secondary_api_key,
        settings.secondary_embed_api_key,
        settings.database_url,
    ):
        register_secret(secret.get_secret_value() if secret else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.close()

    app = FastAPI(
        title="PressRAG",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    install_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router)

    def allowed_origins() -> frozenset[str]:
        return services.require().directory.all_origins()

    # add_middleware puts each new one outside the previous: add innermost first.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=settings.max_body_bytes, path_limits=WEBHOOK_BODY_LIMITS
    )
    app.add_middleware(SiteCORSMiddleware, allowed_origins=allowed_origins)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(CatchAllMiddleware)
    return app
