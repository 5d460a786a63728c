"""What every route depends on: the sources it reads and, when DQ_API_TOKEN is set, the bearer token."""

from __future__ import annotations

import secrets

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from dq_platform.services.sources import Sources

_bearer = HTTPBearer(auto_error=False, description="DQ_API_TOKEN, when the server sets one")


def sources(request: Request) -> Sources:
    """The app's sources, built from the settings on first use (so `--factory` startup stays quick)."""
    state = request.app.state
    if state.sources is None:
        state.sources = Sources.from_settings()
    return state.sources


def require_token(request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
    """Compared in constant time; the token is never logged or echoed."""
    token = request.app.state.token
    if not token:
        return
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), token.encode()):
        raise HTTPException(
            status_code=401, detail="missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"}
        )
