"""The data API's application: routes, the optional bearer token, CORS and the error answers.

Read-only by construction: every route is a GET over `services.records`, which reads the audit
log and the masked/gold/semantic allow-list. Errors are one-line 4xx answers
(`{"detail": "..."}`) naming what was wrong, never quoting data.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse

from dq_platform import settings
from dq_platform.services.api.deps import AnswerCache, require_token
from dq_platform.services.api.routes import datasets, runs, tables
from dq_platform.services.records import BadRequest, NotFound
from dq_platform.services.sources import Sources


def create_app(
    src: Sources | None = None,
    token: str | None = None,
    cors_origins: list[str] | None = None,
    cache_seconds: float | None = None,
) -> FastAPI:
    """The API over `src` (default: from the settings). `token` defaults to DQ_API_TOKEN,
    `cors_origins` to DQ_API_CORS_ORIGINS and `cache_seconds` to DQ_API_CACHE_SECONDS."""
    app = FastAPI(
        title="dq_platform data API",
        version="1",
        description="Read-only: datasets and their health, the audit log of runs, check results, quarantine "
        "counts per rule (never values), anomalies, and the masked, gold and semantic tables. Raw, cleaned "
        "and quarantine tables are never served.",
    )
    app.state.sources = src
    app.state.token = settings.get("DQ_API_TOKEN") if token is None else token
    seconds = settings.number("DQ_API_CACHE_SECONDS") if cache_seconds is None else cache_seconds
    app.state.answers = AnswerCache(seconds)
    origins = cors_origins
    if origins is None:
        origins = [o.strip() for o in (settings.get("DQ_API_CORS_ORIGINS") or "").split(",") if o.strip()]
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET"],
            allow_headers=["Authorization"],
        )

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return JSONResponse(status_code=404, content={"detail": str(exc)})

    @app.exception_handler(BadRequest)
    async def _bad_request(request: Request, exc: BadRequest):
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.get("/healthz", tags=["service"], summary="Liveness (no token needed)")
    def healthz() -> dict:
        return {"status": "ok"}

    protected = [Depends(require_token)]
    for module in (datasets, runs, tables):
        app.include_router(module.router, dependencies=protected)
    return app
