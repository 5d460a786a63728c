"""Fault points for the crash tests: kill or pause this process at a named point of a run.

The platform's crash guarantees (docs/reliability.md) are tested by killing a real ingest process
where a machine could die: at a stage boundary, inside a Delta write (all rows handed to the
writer, nothing committed), right after a commit. Unarmed (DQ_FAULT_AT unset, always in
production) a point costs one environment look-up.

    DQ_FAULT_AT=write:masked_customers:committed   the point (`faults.POINTS` lists their shapes)
    DQ_FAULT_ACTION=kill                            SIGKILL this process there (default)
    DQ_FAULT_ACTION=pause DQ_FAULT_DIR=/tmp/x       create <point>.reached there, wait for <point>.release
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from dq_platform import settings

POINTS = (
    "write:<table>:begin",  # a layer's write is about to start (the stage boundary before it)
    "write:<table>:inside",  # every row handed to the Delta writer, nothing committed yet
    "write:<table>:committed",  # the commit is made; nothing after it (checks, next step) has run
    "chunk:<table>:<n>",  # chunk n's rows staged for the table (where the chunk task runs: a worker)
    "chunks:<table>:judged",  # every chunk typed and judged, none split yet (the run's process)
)


def armed(name: str) -> bool:
    return settings.get("DQ_FAULT_AT") == name


def point(name: str) -> None:
    """Kill or pause here when the fault is armed for `name`."""
    if not armed(name):
        return
    if settings.get("DQ_FAULT_ACTION") == "pause":
        folder = Path(settings.get("DQ_FAULT_DIR") or ".")
        safe = name.replace(":", "_")
        (folder / f"{safe}.reached").write_text(str(os.getpid()))
        deadline = time.monotonic() + 900
        while not (folder / f"{safe}.release").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        return
    os.kill(os.getpid(), signal.SIGKILL)
