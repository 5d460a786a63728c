"""Where chunk tasks run (placeholder until the pool module lands): in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_tasks(fn: Callable[[T], R], items: Sequence[T], *, what: str) -> list[R]:
    return [fn(item) for item in items]


def workers() -> int:
    return 1


def where() -> str:
    return "in-process"
