"""Run one registered file through its dataset's job now, in this process.

The path shared by `dq-platform ingest`, a batch run of several files (defs/batch.py), the demo, the
benchmark and tests (registering the file as a partition is defs/partitions.py). The run is recorded
in the instance like a daemon-launched one, and its outcome (rows per layer, checks, the gate that
held it, its reports) is summarized for the console.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.execution import run_config
from dq_platform.defs.partitions import source_tags
from dq_platform.defs.run_state import worker_tag
from dq_platform.io import landing
from dq_platform.reports.errors import root_cause


@dataclass
class RunOutcome:
    dataset: str
    partition: str
    run_id: str
    success: bool
    rows: dict[str, int] = field(default_factory=dict)  # rows_in, cleaned, quarantined, masked
    checks: list[tuple[str, str, bool, str]] = field(default_factory=list)  # asset, check, passed, severity
    error: str | None = None
    failed_gates: list[str] = field(default_factory=list)  # "asset.check: description" of failed ERROR checks
    warnings: list[str] = field(default_factory=list)  # the same of failed WARN checks (e.g. an empty file)
    reports: dict[str, str] = field(default_factory=dict)  # kind -> URI of the run's reports (reports/run_report.py)
    held: bool = False  # waiting for a human review decision (defs/review.py)


def run_file(
    instance: dg.DagsterInstance,
    contract: Contract,
    source: landing.SourceFile,
    *,
    contracts_dir: str | Path,
    warehouse_root: str,
    extra_tags: dict[str, str] | None = None,
    executor: str = "in_process",
) -> RunOutcome:
    """Materialize raw -> gold for one file's partition now, in this process, recorded in the instance."""
    return run_partition(
        instance,
        contract,
        source.partition_key,
        {**source_tags(source), **(extra_tags or {})},
        contracts_dir=contracts_dir,
        warehouse_root=warehouse_root,
        executor=executor,
    )


def run_partition(
    instance: dg.DagsterInstance,
    contract: Contract,
    partition: str,
    tags: dict[str, str],
    *,
    contracts_dir: str | Path,
    warehouse_root: str,
    executor: str = "in_process",
) -> RunOutcome:
    """Run the dataset's job for a registered partition with `tags` (the file's source tags and how
    the run started), then write its reports.

    Runs through `dg.execute_job` (as the daemon's runs do), not `execute_in_process`, which
    would keep every step's output frame in memory until the run ends.
    """
    job = dg.build_reconstructable_job(
        "dq_platform.definitions",
        "pipeline_job",
        reconstructable_args=(names.pipeline_job(contract.name), str(contracts_dir), warehouse_root),
    )
    # The console shows warnings and errors only; every event still goes to the instance (the audit log).
    level = settings.get("DQ_LOG_LEVEL").upper()
    # in_process: every step in this process (the default); multiprocess: a process per step
    # (DQ_STEP_PROCESSES_ABOVE_MB, defs/execution.py).
    if executor not in ("in_process", "multiprocess"):
        raise ValueError(f"executor must be 'in_process' or 'multiprocess', not {executor!r}")
    config = {
        **run_config(process_per_step=executor == "multiprocess"),
        "loggers": {"console": {"config": {"log_level": level}}},
    }
    # dq/worker: this process, so a run left STARTED by a killed process is recognized as dead (run_state.py)
    tags = {**tags, names.PARTITION_TAG: partition, names.WORKER_TAG: worker_tag()}
    result = dg.execute_job(job, instance, run_config=config, tags=tags, raise_on_error=False)
    outcome = summarize(result, contract, partition, instance=instance)
    from dq_platform.io.warehouse import Warehouse
    from dq_platform.reports.run_report import write_reports

    outcome.reports = write_reports(instance, result.run_id, Warehouse(root=warehouse_root))
    return outcome


def _stored_check_evaluations(instance: dg.DagsterInstance, run_id: str) -> list:
    """Every check evaluation of the run as stored (the audit's view), including those a step
    logged itself (e.g. gold's leak checks recorded as unchanged when a file publishes nothing)."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [r.event_log_entry.dagster_event.event_specific_data for r in records]


def summarize(result, contract: Contract, partition: str, instance: dg.DagsterInstance) -> RunOutcome:
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        key = mat.asset_key.path[-1]
        if key == names.raw(contract.name):
            rows["in"] = meta.get("rows_in", 0)
        elif key == names.cleaned(contract.name):
            rows["cleaned"] = meta.get("rows_cleaned", 0)
            rows["quarantined"] = meta.get("rows_quarantined", 0)
        elif key == names.masked(contract.name):
            rows["masked"] = meta.get("rows_masked", 0)
    checks, failed_gates, warnings = [], [], []
    held = False
    for ev in _stored_check_evaluations(instance, result.run_id):
        checks.append((ev.asset_key.path[-1], ev.check_name, ev.passed, ev.severity.value))
        held |= ev.check_name == names.REVIEW_CHECK and not ev.passed
        if not ev.passed:
            text = f"{ev.asset_key.path[-1]}.{ev.check_name}: {ev.description or 'failed'}"
            (failed_gates if ev.severity.value == "ERROR" else warnings).append(text)
    error = None
    if not result.success:
        for ev in result.all_events:
            if ev.is_step_failure:
                error = f"{ev.step_key}: {root_cause(ev.event_specific_data.error)}"
                break
    if failed_gates and error and re.search(names.GATE_ERROR_PATTERN, error):
        # say which gate held the file, and its numbers, instead of Dagster's generic message
        error = f"{error.split(':', 1)[0]}: {partition} held by {failed_gates[0]}"
    return RunOutcome(
        dataset=contract.name,
        partition=partition,
        run_id=result.run_id,
        success=result.success,
        rows=rows,
        checks=checks,
        error=error,
        failed_gates=failed_gates,
        warnings=warnings,
        held=held,
    )
