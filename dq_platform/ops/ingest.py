"""Turn source files into partitions and runs: the path shared by the CLI, the demo and tests.

A file is matched to its contract by the contract's glob, registered as a dynamic partition
named after its name and content hash, archived, and processed by the dataset's job. The run
carries the source URI, checksum and size as tags, so run storage (the audit log) answers
"which file produced this row?".
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dq_platform.io import landing
from dq_platform.defs.dataset import partitions_def
from dq_platform.names import CHECKSUM_TAG, SIZE_TAG, SOURCE_URI_TAG
from dq_platform.contract import Contract
from dq_platform.defs.execution import run_config
from dq_platform.defs.review import REVIEW_CHECK


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
    reports: dict[str, str] = field(default_factory=dict)  # kind -> URI of the run's reports (reports.py)
    held: bool = False  # waiting for a human review decision (human_review.py)


def match_contract(path: str | Path, contracts: list[Contract], landing_root: str | Path | None = None) -> Contract | None:
    """The contract whose source glob matches the file (relative to the landing zone, or its name)."""
    p = Path(path)
    candidates = [p.name]
    if landing_root is not None:
        try:
            candidates.insert(0, p.resolve().relative_to(Path(landing_root).resolve()).as_posix())
        except ValueError:
            pass
    candidates.append(f"{p.parent.name}/{p.name}")
    for c in contracts:
        pattern = c.source.pattern
        if any(fnmatch.fnmatch(cand, pattern) for cand in candidates):
            return c
        if fnmatch.fnmatch(p.name, pattern.rsplit("/", 1)[-1]) and "/" not in pattern:
            return c
    return None


def registered_content(instance: dg.DagsterInstance, contract: Contract) -> dict[str, str]:
    """sha256 prefix -> partition key of every file already registered for the dataset."""
    keys = instance.get_dynamic_partitions(partitions_def(contract).name)
    return {key.rsplit(landing.KEY_SEP, 1)[-1]: key for key in keys}


def register(instance: dg.DagsterInstance, contract: Contract, path: str | Path, warehouse_root: str,
             source: landing.SourceFile | None = None) -> landing.SourceFile:
    """Archive the file and add its partition (idempotent: same bytes, same partition).

    `source`: the file already described (hashed) by the caller, so it is not read twice.
    """
    source = source or landing.describe(contract.name, path)
    landing.archive(source, warehouse_root)
    name = partitions_def(contract).name
    if not instance.has_dynamic_partition(name, source.partition_key):
        instance.add_dynamic_partitions(name, [source.partition_key])
    return source


def source_tags(source: landing.SourceFile) -> dict[str, str]:
    return {SOURCE_URI_TAG: source.uri, CHECKSUM_TAG: source.sha256, SIZE_TAG: str(source.size),
            "dq/dataset": source.dataset}


def run_file(instance: dg.DagsterInstance, contract: Contract, source: landing.SourceFile, *,
             contracts_dir: str | Path, warehouse_root: str, extra_tags: dict[str, str] | None = None,
             executor: str = "in_process") -> RunOutcome:
    """Materialize raw -> gold for one file's partition now, in this process, recorded in the instance.

    Runs through `dg.execute_job` (as the daemon's runs do), not `execute_in_process`, which
    would keep every step's output frame in memory until the run ends.
    """
    job = dg.build_reconstructable_job(
        "dq_platform.definitions", "pipeline_job",
        reconstructable_args=(f"{contract.name}_pipeline", str(contracts_dir), warehouse_root))
    # The console shows warnings and errors only; every event still goes to the instance (the audit log).
    level = os.environ.get("DQ_LOG_LEVEL", "WARNING").upper()
    # in_process: every step in this process (CLI, demo; the daemon's runs of files up to
    # DQ_STEP_PROCESSES_ABOVE_MB). multiprocess: a process per step (bigger files).
    if executor not in ("in_process", "multiprocess"):
        raise ValueError(f"executor must be 'in_process' or 'multiprocess', not {executor!r}")
    config = {**run_config(process_per_step=executor == "multiprocess"),
              "loggers": {"console": {"config": {"log_level": level}}}}
    tags = {**source_tags(source), **(extra_tags or {}), "dagster/partition": source.partition_key}
    result = dg.execute_job(job, instance, run_config=config, tags=tags, raise_on_error=False)
    outcome = summarize(result, contract, source.partition_key)
    from dq_platform.reports.run_report import write_reports
    from dq_platform.io.warehouse import Warehouse

    outcome.reports = write_reports(instance, result.run_id, Warehouse(root=warehouse_root))
    return outcome


def root_cause(err) -> str:
    """The user-facing message under Dagster's wrappers (e.g. which file, which line, why)."""
    if err is None:
        return "failed"
    while err.cause is not None and "DagsterExecutionStepExecutionError" in (err.cls_name or ""):
        err = err.cause
    return err.message.strip().splitlines()[0] if err.message else err.cls_name


def summarize(result, contract: Contract, partition: str) -> RunOutcome:
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        key = mat.asset_key.path[-1]
        if key == f"raw_{contract.name}":
            rows["in"] = meta.get("rows_in", 0)
        elif key == f"cleaned_{contract.name}":
            rows["cleaned"] = meta.get("rows_cleaned", 0)
            rows["quarantined"] = meta.get("rows_quarantined", 0)
        elif key == f"masked_{contract.name}":
            rows["masked"] = meta.get("rows_masked", 0)
    checks, failed_gates = [], []
    held = False
    for ev in result.get_asset_check_evaluations():
        checks.append((ev.asset_key.path[-1], ev.check_name, ev.passed, ev.severity.value))
        held |= ev.check_name == REVIEW_CHECK and not ev.passed
        if not ev.passed and ev.severity.value == "ERROR":
            failed_gates.append(f"{ev.asset_key.path[-1]}.{ev.check_name}: {ev.description or 'failed'}")
    error = None
    if not result.success:
        for ev in result.all_events:
            if ev.is_step_failure:
                error = f"{ev.step_key}: {root_cause(ev.event_specific_data.error)}"
                break
    if failed_gates and error and "blocking asset check failed" in error:
        # say which gate held the file, and its numbers, instead of Dagster's generic message
        error = f"{error.split(':', 1)[0]}: {partition} held by {failed_gates[0]}"
    return RunOutcome(dataset=contract.name, partition=partition, run_id=result.run_id, success=result.success,
                      rows=rows, checks=checks, error=error,
                      failed_gates=failed_gates, held=held)
