"""Per-column work on a few threads: the one place that decides how wide a step runs.

Typing, masking, the PII scan and profiling treat each column on its own and spend most of
their time in Arrow/NumPy kernels that release the GIL, so threads (not processes: no copy of
a million-row frame) put every core to work. Small frames stay on the calling thread, where a
pool would cost more than it saves. ``DQ_THREADS`` caps the width (1 turns threading off).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from dq_platform import settings

T = TypeVar("T")
R = TypeVar("R")

MIN_ROWS = 50_000  # below this, per-column work is milliseconds: no pool


def width() -> int:
    """Threads per step: DQ_THREADS, else the machine's cores (at most 4)."""
    configured = settings.get("DQ_THREADS") or ""
    if configured:
        try:
            return max(1, int(configured))
        except ValueError:
            raise ValueError(f"DQ_THREADS must be a whole number of threads, not {configured!r}") from None
    return max(1, min(4, os.cpu_count() or 1))


def map_columns(fn: Callable[[T], R], items: Iterable[T], rows: int, threads: int | None = None) -> list[R]:
    """``[fn(item) for item in items]``, in order, on a thread pool when the frame is large."""
    items = list(items)
    threads = threads or width()
    if threads <= 1 or len(items) <= 1 or rows < MIN_ROWS:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="dq-columns") as pool:
        return list(pool.map(fn, items))
