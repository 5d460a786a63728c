"""How a dataset file's run executes: every step in one process, or a process per step.

One place knows the executor of the dataset jobs, the run config that picks its mode and how a
running step tells which mode it is in (the storage handoff asks).
"""

from __future__ import annotations

import dagster as dg

from dq_platform import settings

PROCESS_PER_STEP = "process_per_step"

# Dagster's multiprocess/in-process executor with one switch, `execution: config: process_per_step`
# (default false), chosen per run; the UI's launchpad shows it.
FILE_EXECUTOR = dg.multi_or_in_process_executor.configured(
    lambda cfg: {"multiprocess": {}} if cfg[PROCESS_PER_STEP] else {"in_process": {}},
    name="dq_file_executor",
    config_schema={
        PROCESS_PER_STEP: dg.Field(
            bool,
            default_value=False,
            is_required=False,
            description="Run each step in its own process (returns each step's memory when it ends; for big "
            "files). Default: every step in the run's process, handing frames over in memory.",
        )
    },
    description="A dataset file's run: in one process by default, a process per step on request.",
)


def run_config(process_per_step: bool) -> dict:
    """The `execution` part of a dataset job's run config."""
    return {"execution": {"config": {PROCESS_PER_STEP: process_per_step}}}


def execution_config(size: int | None = None) -> dict:
    """Run config choosing the executor for a file of `size` bytes (`process_per_step`)."""
    return run_config(per_step_processes(size))


def per_step_processes(size: int | None = None) -> bool:
    """Whether a file of `size` bytes runs each step in its own process.

    Every step runs in the run's process unless DQ_STEP_PROCESSES_ABOVE_MB is set and the file is
    larger. A process per step never pays in time (~3 s of interpreter start per step: at 100k rows
    42.7 CPU-s against 7.9 in one process, bench/small.py) and no longer saves memory: a file is
    processed in chunks by worker processes (chunks/), so the run's own process holds summaries, not
    rows, whatever the file's size.
    """
    configured = settings.get("DQ_STEP_PROCESSES_ABOVE_MB")
    if not configured:
        return False
    try:
        limit = float(configured) * 2**20
    except ValueError:
        raise ValueError(f"DQ_STEP_PROCESSES_ABOVE_MB must be a number of megabytes, not {configured!r}") from None
    return size is not None and size > limit
