"""What every route depends on: the sources it reads and, when DQ_API_TOKEN is set, the bearer token."""

from __future__ import annotations

import secrets
import threading
import time

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


class AnswerCache:
    """KPI answers (a scan of the whole window of run storage) kept for `seconds`, per route and
    arguments, so a dashboard or a monitor polling every few seconds costs one computation."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._lock = threading.Lock()
        self._items: dict[tuple, tuple[float, object]] = {}

    def get(self, key: tuple, compute):
        if self.seconds <= 0:
            return compute()
        now = time.monotonic()
        with self._lock:
            held = self._items.get(key)
        if held is not None and held[0] > now:
            return held[1]
        value = compute()
        with self._lock:
            self._items[key] = (now + self.seconds, value)
            if len(self._items) > 256:  # bounded: drop the stalest
                del self._items[min(self._items, key=lambda k: self._items[k][0])]
        return value


def answers(request: Request) -> AnswerCache:
    return request.app.state.answers
