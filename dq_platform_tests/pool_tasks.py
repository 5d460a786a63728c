"""Toy chunk tasks for the pool tests and bench/pool_benchmark.py: module-level, so worker processes
(local or Dask) import them by name."""

from __future__ import annotations

import os
import signal
import time


def square(x: int) -> int:
    return x * x


def tiny(x: int) -> int:
    return x


def burn(iterations: int) -> int:
    """CPU work in pure Python (about 0.3 s for 6M iterations on this machine)."""
    total = 0
    for i in range(iterations):
        total += i & 7
    return total


def pid_after(seconds: float) -> int:
    """The process that ran the task, after `seconds` of sleep."""
    time.sleep(seconds)
    return os.getpid()


def fail_on_three(x: int) -> int:
    from dq_platform.io.landing import SourceFileError

    if x == 3:
        raise SourceFileError(f"chunk-{x}.csv, line 7: unterminated quoted value")
    return x


def die_on_two(x: int) -> int:
    """Item 2 kills its own worker process (as the kernel's OOM killer would); the others take a moment."""
    if x == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return x


def slow_square(x: int, seconds: float = 0.25) -> int:
    time.sleep(seconds)
    return x * x


class TwoPartError(Exception):
    """An exception whose constructor does not take its own message: pickles, but cannot be rebuilt."""

    def __init__(self, path: str, line: int):
        super().__init__(f"{path}, line {line}: bad record")


def raise_two_part(x: int) -> int:
    if x == 1:
        raise TwoPartError("chunk.csv", 7)
    return x


def return_two_part(x: int):
    """A result that pickles in the worker but cannot be rebuilt here."""
    return TwoPartError("chunk.csv", x) if x == 1 else x
