"""Retention of the audit log: Dagster never prunes run/event storage, so `audit prune` does.

A run older than the cutoff is deleted (with its events) through `instance.delete_run`, unless
it is still evidence of the current state:
- it is the latest run of some asset partition (the newest run for its job and partition, or
  the run that wrote the latest materialization of an asset partition), or
- a current Delta table version points at it (the `dagster_run_id` of the newest commit that
  wrote each partition, or an unpartitioned table), so "which run wrote this row?" still answers.
Runs still queued or in progress are never touched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg
from dagster import DagsterEventType

from dq_platform import names
from dq_platform.contract import modeling_tables
from dq_platform.io.warehouse import Warehouse

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


@dataclass
class PruneCandidate:
    run_id: str
    dataset: str
    partition: str
    status: str
    created: str
    kept_because: str | None = None


@dataclass
class PrunePlan:
    cutoff: dt.datetime
    delete: list[PruneCandidate] = field(default_factory=list)
    keep: list[PruneCandidate] = field(default_factory=list)


def table_names(contracts) -> list[str]:
    """Every Delta table the contracts' assets write."""
    tables = []
    for c in contracts:
        tables += names.file_layers(c.name)
        tables += [names.gold(c.name, a.name) for a in c.aggregations]
        tables += modeling_tables(c)  # model and semantic-layer tables
    return tables


def current_table_runs(warehouse: Warehouse, tables: list[str]) -> dict[str, str]:
    """run id -> 'table[partition]' for every run a current table version points at."""
    referenced: dict[str, str] = {}
    for table in tables:
        dt_ = warehouse.table(table)
        if dt_ is None:
            continue
        seen: set[str] = set()
        for entry in dt_.history():  # newest first
            if entry.get("operation") not in ("WRITE", "CREATE TABLE", "RESTORE"):
                continue
            partition = entry.get("dagster_partition") or ""
            if partition in seen:
                continue
            seen.add(partition)
            if entry.get("dagster_run_id"):
                referenced.setdefault(entry["dagster_run_id"], f"{table}[{partition}]" if partition else table)
            if not partition:  # an unpartitioned table's newest write replaced everything before it
                break
    return referenced


def latest_materializing_runs(instance: dg.DagsterInstance) -> dict[str, str]:
    """run id -> asset partition, for the run of the latest materialization of each asset partition."""
    runs: dict[str, str] = {}
    for key in instance.get_asset_keys():
        by_partition = instance.get_latest_storage_id_by_partition(key, DagsterEventType.ASSET_MATERIALIZATION)
        if by_partition:
            ids = list(by_partition.values())
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key, storage_ids=ids), limit=len(ids)
            ).records
            for rec in records:
                runs.setdefault(rec.run_id, f"{key.to_user_string()}[{rec.partition_key}]")
        latest = instance.get_latest_materialization_event(key)
        if latest is not None and latest.run_id:
            runs.setdefault(latest.run_id, key.to_user_string())
    return runs


def plan_prune(
    instance: dg.DagsterInstance,
    *,
    older_than_days: float,
    warehouse_root: str,
    contracts,
    now: dt.datetime | None = None,
) -> PrunePlan:
    """What a prune would delete and what it keeps, with the reason. Changes nothing."""
    now = now or dt.datetime.now(dt.UTC)
    plan = PrunePlan(cutoff=now - dt.timedelta(days=older_than_days))
    old = instance.get_run_records(filters=dg.RunsFilter(created_before=plan.cutoff, statuses=FINISHED))
    if not old:
        return plan
    referenced = current_table_runs(Warehouse(root=warehouse_root), table_names(contracts))
    materialized = latest_materializing_runs(instance)
    # Newest run of each job and partition, at any age, in two queries: the newer runs, then
    # (records come newest first) the first old run of each group not seen among them.
    newest: dict[tuple[str, str], str] = {}
    for record in [*instance.get_run_records(filters=dg.RunsFilter(created_after=plan.cutoff)), *old]:
        run = record.dagster_run
        newest.setdefault((run.job_name, run.tags.get(names.PARTITION_TAG, "")), run.run_id)
    for record in old:
        run = record.dagster_run
        partition = run.tags.get(names.PARTITION_TAG, "")
        group = (run.job_name, partition)
        item = PruneCandidate(
            run_id=run.run_id,
            dataset=run.tags.get(names.DATASET_TAG, run.job_name),
            partition=partition or "-",
            status=run.status.value,
            created=record.create_timestamp.isoformat(timespec="seconds"),
        )
        if newest[group] == run.run_id:
            item.kept_because = f"latest run of {run.job_name}" + (f" [{partition}]" if partition else "")
        elif run.run_id in referenced:
            item.kept_because = f"current version of {referenced[run.run_id]}"
        elif run.run_id in materialized:
            item.kept_because = f"latest materialization of {materialized[run.run_id]}"
        (plan.keep if item.kept_because else plan.delete).append(item)
    return plan


def prune(instance: dg.DagsterInstance, plan: PrunePlan) -> int:
    """Delete the plan's runs and their events through Dagster's API."""
    for item in plan.delete:
        instance.delete_run(item.run_id)
    return len(plan.delete)


def format_plan(plan: PrunePlan, dry_run: bool) -> str:
    verb = "would delete" if dry_run else "deleting"
    lines = [
        f"runs created before {plan.cutoff.isoformat(timespec='seconds')}: "
        f"{verb} {len(plan.delete)}, keeping {len(plan.keep)}"
    ]
    for item in plan.delete:
        lines.append(
            f"  {verb:<12} {item.run_id}  {item.dataset:<20} {item.status:<8} {item.created}  {item.partition}"
        )
    for item in plan.keep:
        lines.append(
            f"  {'keep':<12} {item.run_id}  {item.dataset:<20} {item.status:<8} {item.created}  "
            f"{item.partition}  ({item.kept_because})"
        )
    if dry_run and plan.delete:
        lines.append("dry run: nothing was deleted (add --yes to delete)")
    return "\n".join(lines)
