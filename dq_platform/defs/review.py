"""Human review of threshold breaches (the "Threshold & Review" stage of the governance pipeline it grew from), on Dagster.

A file whose share of quarantined rows lies above the contract's `failure_rate.review` but not
above `failure_rate.error` is neither published nor rejected: it is HELD. Its cleaned commit says
`dq_gates: review`, masked/gold are not written, and the check `cleaned_<name>.human_review_not_pending`
fails (WARN) so the alert sensor sends a review alert. A reviewer decides by launching the
`dq_review` job (UI launchpad, or `dq-platform review approve|reject`):

- approve: the decision is recorded against the exact cleaned version it was made on; the
  dataset's `<name>_publish` job then writes masked and gold for that partition (launched by the
  `dq_review_publisher` sensor, or directly by the CLI). A later re-run of the file produces a new
  cleaned version, which needs a new decision.
- reject: the whole file goes to quarantine (the rows that had passed get the rule
  `_review:rejected`) and its cleaned partition is emptied, so raw = cleaned + quarantine still
  holds; nothing is published.

Every decision is a Dagster run with `dq/review/*` tags (who, what, why, on which version): the
audit log. Seed 001's `--no-review` is `review.auto_approve` in a contract, `DQ_REVIEW_AUTO_APPROVE=1`
for the platform, or the run tag `dq/review/auto_approve=true` (`dq-platform ingest --no-review`).
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal

import dagster as dg
import pandas as pd
from pydantic import Field

from dq_platform import names, settings
from dq_platform.contract import Contract, Level
from dq_platform.defs.execution import run_config
from dq_platform.engine import rules
from dq_platform.io.warehouse import Warehouse

REVIEW_OP = "record_review_decision"
REJECTED_RULE = "_review:rejected"


# -- the decision in the clean step ---------------------------------------------------------


def needs_review(rate: float, level: Level) -> bool:
    """Above the review threshold but not above the reject threshold."""
    return level.review is not None and level.review < rate <= level.error


def auto_approval(contract: Contract, run_tags: dict) -> str | None:
    """Why this run publishes without waiting for a reviewer, or None."""
    if run_tags.get(names.AUTO_APPROVE_TAG, "").lower() == "true":
        return "the run was started with --no-review"
    if contract.review.auto_approve:
        return f"contract {contract.name} sets review.auto_approve"
    if settings.flag("DQ_REVIEW_AUTO_APPROVE"):
        return "DQ_REVIEW_AUTO_APPROVE is set for the platform"
    return None


def review_check(
    contract: Contract,
    *,
    partition: str,
    rate: float,
    rows_in: int,
    rows_failed: int,
    auto: str | None,
    gates_otherwise_passed: bool,
) -> tuple[str | None, dg.AssetCheckResult]:
    """(gate state to stamp instead of passed/failed, or None; the human_review check's result)."""
    level = contract.failure_rate
    key = dg.AssetKey(names.cleaned(contract.name))
    facts = {
        "failure_rate": round(rate, 6),
        "rows_in": rows_in,
        "rows_failed": rows_failed,
        "review_level": level.review,
        "error_level": level.error,
    }
    if not needs_review(rate, level):
        state = "not_needed" if rate <= (level.review or 0) else "rejected_by_gate"
        text = (
            f"{rate:.2%} of rows failed: no review needed (review above {level.review:.0%})"
            if state == "not_needed"
            else f"{rate:.2%} of rows failed: above the reject threshold {level.error:.0%}, "
            f"held by failure_rate_within_threshold (no review possible)"
        )
        return None, dg.AssetCheckResult(
            asset_key=key,
            check_name=names.REVIEW_CHECK,
            passed=True,
            description=text,
            metadata={names.REVIEW_META: state, **facts},
        )
    if auto:
        return None, dg.AssetCheckResult(
            asset_key=key,
            check_name=names.REVIEW_CHECK,
            passed=True,
            description=f"{rate:.2%} of rows failed (review above {level.review:.0%}): auto-approved, {auto}",
            metadata={names.REVIEW_META: "auto_approved", "auto_approved_because": auto, **facts},
        )
    if not gates_otherwise_passed:
        return None, dg.AssetCheckResult(
            asset_key=key,
            check_name=names.REVIEW_CHECK,
            passed=True,
            description=f"{rate:.2%} of rows failed, but another blocking gate failed: no review possible",
            metadata={names.REVIEW_META: "rejected_by_gate", **facts},
        )
    return names.HELD, dg.AssetCheckResult(
        asset_key=key,
        check_name=names.REVIEW_CHECK,
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{rows_failed} of {rows_in} rows failed row rules ({rate:.2%}; review above "
            f"{level.review:.0%}, reject above {level.error:.0%}): held for a human decision. "
            f"{how_to_decide(contract.name, partition)}"
        ),
        metadata={names.REVIEW_META: "required", **facts},
    )


def how_to_decide(dataset: str, partition: str) -> str:
    return (
        f"Decide in the UI: Jobs > {names.review_job(dataset)} > Launchpad, pick partition '{partition}', "
        f"Launch (approves; set decision: reject and a comment to reject). Or `dq-platform review "
        f"approve|reject {dataset} '{partition}' --reviewer NAME --comment TEXT`."
    )


# -- finding held partitions and decisions ---------------------------------------------------


@dataclass
class Decision:
    run_id: str
    decision: str  # approve | reject
    reviewer: str
    comment: str
    cleaned_version: int
    at: str


@dataclass
class Held:
    dataset: str
    partition: str
    cleaned_version: int
    held_since: str
    run_id: str
    failure_rate: float | None
    rows_in: int | None
    decision: Decision | None = None  # the decision on record for this version, if any

    @property
    def pending(self) -> bool:
        return self.decision is None


def latest_decision(instance: dg.DagsterInstance, dataset: str, partition: str) -> Decision | None:
    """The newest successful review decision for the partition (any cleaned version)."""
    records = instance.get_run_records(  # dq_review (CLI) or <dataset>_review (UI): both are review runs
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.SUCCESS],
            tags={
                names.KIND_TAG: names.REVIEW_KIND,
                f"{names.REVIEW_TAG}dataset": dataset,
                f"{names.REVIEW_TAG}partition": partition,
            },
        ),
        limit=1,
    )
    if not records:
        return None
    r = records[0]
    t = r.dagster_run.tags
    return Decision(
        run_id=r.dagster_run.run_id,
        decision=t.get(f"{names.REVIEW_TAG}decision", ""),
        reviewer=t.get(f"{names.REVIEW_TAG}reviewer", ""),
        comment=t.get(f"{names.REVIEW_TAG}comment", ""),
        cleaned_version=int(t.get(f"{names.REVIEW_TAG}cleaned_version", "-1")),
        at=r.create_timestamp.isoformat(timespec="seconds"),
    )


def approval_for(instance: dg.DagsterInstance, dataset: str, partition: str, cleaned_version: int) -> Decision | None:
    """The approval that lets this exact cleaned version be published, if there is one."""
    d = latest_decision(instance, dataset, partition)
    if d is not None and d.decision == "approve" and d.cleaned_version == cleaned_version:
        return d
    return None


def held_partitions(
    instance: dg.DagsterInstance, warehouse: Warehouse, contracts: list[Contract], include_decided: bool = False
) -> list[Held]:
    """Partitions whose newest cleaned commit is held for review (one Delta history read per dataset)."""
    out = []
    for contract in contracts:
        if contract.failure_rate.review is None:
            continue
        table = warehouse.table(names.cleaned(contract.name))
        if table is None:
            continue
        newest: dict[str, dict] = {}
        for entry in table.history():  # newest first
            if entry.get("operation") in ("WRITE", "CREATE TABLE") and entry.get("dagster_partition"):
                newest.setdefault(entry["dagster_partition"], entry)
        for partition, entry in sorted(newest.items(), key=lambda kv: -kv[1]["timestamp"]):
            if entry.get("dq_gates") != names.HELD:
                continue
            version = int(entry["version"])
            decision = latest_decision(instance, contract.name, partition)
            if decision is not None and decision.cleaned_version != version:
                decision = None  # a decision on an earlier run of the file does not cover this one
            if decision is not None and not include_decided:
                continue
            rate = entry.get("dq_failure_rate")
            out.append(
                Held(
                    dataset=contract.name,
                    partition=partition,
                    cleaned_version=version,
                    held_since=dt.datetime.fromtimestamp(entry["timestamp"] / 1000, dt.UTC).isoformat(
                        timespec="seconds"
                    ),
                    run_id=str(entry.get("dagster_run_id", "-")),
                    failure_rate=float(rate) if rate else None,
                    rows_in=int(entry["dq_rows_in"]) if entry.get("dq_rows_in") else None,
                    decision=decision,
                )
            )
    return out


# -- the review job --------------------------------------------------------------------------------


class ReviewConfig(dg.Config):
    """What the reviewer fills in on the UI's launchpad (or passes to `dq-platform review`)."""

    dataset: str = Field(description="contract name, e.g. customers")
    partition: str = Field(
        description="the held file's partition, e.g. customers_0003.csv@1a2b3c4d5e6f7a8b "
        "(see `dq-platform review list`)"
    )
    decision: Literal["approve", "reject"] = Field(description="approve: publish it; reject: quarantine the whole file")
    reviewer: str = Field(description="who decides (recorded in the run's tags and the tables' commits)")
    comment: str = Field(default="", description="why (required to reject)")


UI_REVIEWER = "dagster-ui"


class PartitionReviewConfig(dg.Config):
    """The launchpad of `<dataset>_review`: the held file is the run's partition (picked from the list),
    and every field has a valid default, so "Launch" approves it with no typing."""

    decision: Literal["approve", "reject"] = Field(
        default="approve", description="approve: publish the file; reject: quarantine it (needs a comment)"
    )
    reviewer: str = Field(default=UI_REVIEWER, description="who decides (recorded in the run's tags and commits)")
    comment: str = Field(default="", description="why (required to reject)")


class ReviewRefused(ValueError):
    """A decision the platform will not record; the message says why."""


def review_tags(
    config: ReviewConfig, cleaned_version: int | None = None, held_run: str | None = None
) -> dict[str, str]:
    tags = {
        names.DATASET_TAG: config.dataset,
        f"{names.REVIEW_TAG}dataset": config.dataset,
        f"{names.REVIEW_TAG}partition": config.partition,
        f"{names.REVIEW_TAG}decision": config.decision,
        f"{names.REVIEW_TAG}reviewer": config.reviewer,
        f"{names.REVIEW_TAG}comment": config.comment[:200],
    }
    if cleaned_version is not None:
        tags[f"{names.REVIEW_TAG}cleaned_version"] = str(cleaned_version)
    if held_run:
        tags[names.HELD_RUN_TAG] = held_run
    return tags


def validate(config: ReviewConfig, contract: Contract | None, warehouse: Warehouse) -> dict:
    """The cleaned commit the decision is about; refuses what cannot be decided."""
    if contract is None:
        raise ReviewRefused(f"no contract '{config.dataset}'")
    if contract.failure_rate.review is None:
        raise ReviewRefused(f"{config.dataset} has no review threshold (failure_rate.review)")
    if not config.reviewer.strip():
        raise ReviewRefused("a decision needs a reviewer")
    allowed = contract.review.reviewers
    if allowed and config.reviewer not in allowed:
        raise ReviewRefused(
            f"{config.reviewer} is not a reviewer of {config.dataset} (reviewers: {', '.join(allowed)})"
        )
    if config.decision == "reject" and not config.comment.strip():
        raise ReviewRefused("a rejection needs a comment saying why")
    commit = warehouse.last_commit(names.cleaned(config.dataset), config.partition)
    if commit is None:
        raise ReviewRefused(f"{config.dataset} has no cleaned partition '{config.partition}'")
    if commit.get("dq_gates") != names.HELD:
        raise ReviewRefused(
            f"{config.dataset} partition '{config.partition}' is not awaiting review "
            f"(gates: {commit.get('dq_gates', '-')})"
        )
    return commit


def reject_partition(
    warehouse: Warehouse, contract: Contract, partition: str, *, run_id: str, reviewer: str, date_columns: list[str]
) -> tuple[int, int]:
    """Move the whole file to quarantine and empty its cleaned partition; returns (moved, quarantined now).

    The rows that had passed are taken from raw (quarantine keeps values as received), so every raw
    row still ends in exactly one of cleaned (now none) or quarantine.
    """
    name = contract.name
    raw = warehouse.read(names.raw(name), partition=partition).drop(columns=[rules.PARTITION])
    quarantine = warehouse.read(names.quarantine(name), partition=partition).drop(columns=[rules.PARTITION])
    moved = raw.loc[~raw[rules.SOURCE_LINE].isin(quarantine[rules.SOURCE_LINE])].copy()
    moved[rules.FAILED_RULES] = REJECTED_RULE
    moved[rules.REASON] = f"rejected in review by {reviewer}: the whole file is quarantined"
    moved[rules.RUN_ID] = run_id
    combined = pd.concat(
        [quarantine, moved.reindex(columns=quarantine.columns.union(moved.columns, sort=False))], ignore_index=True
    )
    for c in (rules.FAILED_RULES, rules.REASON, rules.RUN_ID):
        combined[c] = combined[c].astype("string")
    meta = {"dq_review": "rejected", "dq_review_run": run_id}
    warehouse.write(names.quarantine(name), combined, partition=partition, run_id=run_id, extra_metadata=meta)
    cleaned = warehouse.read(names.cleaned(name), partition=partition).drop(columns=[rules.PARTITION])
    warehouse.write(
        names.cleaned(name),
        cleaned.iloc[0:0],
        partition=partition,
        run_id=run_id,
        date_columns=date_columns,
        extra_metadata={**meta, "dq_gates": names.REJECTED},
    )
    return len(moved), len(combined)


def build_review_job(contracts: list[Contract]) -> dg.JobDefinition:
    by_name = {c.name: c for c in contracts}

    @dg.op(name=REVIEW_OP, out=dg.Out(dg.Nothing))
    def record_review_decision(context: dg.OpExecutionContext, config: ReviewConfig, warehouse: Warehouse):
        """Record the decision against the exact cleaned version; a rejection quarantines the file."""
        record_decision(context, config, by_name.get(config.dataset), warehouse)

    @dg.job(
        name=names.REVIEW_JOB,
        tags={names.KIND_TAG: names.REVIEW_KIND},
        description="Decide on a file held for human review: approve (publish it) or reject (quarantine it). "
        "The run is the audit record of the decision. From the UI, each dataset's <dataset>_review job needs "
        "no typing: pick the held partition and launch.",
    )
    def review_job():
        record_review_decision()

    return review_job


def build_partition_review_job(contract: Contract) -> dg.JobDefinition:
    """`<dataset>_review`: partitioned like the dataset, so the UI lists its files; defaults approve."""
    name = contract.name

    @dg.op(name=f"{REVIEW_OP}_{name}", out=dg.Out(dg.Nothing))
    def record_partition_decision(context: dg.OpExecutionContext, config: PartitionReviewConfig, warehouse: Warehouse):
        """Record the decision on this run's partition, as `dq_review` does."""
        full = ReviewConfig(dataset=name, partition=context.partition_key, **config.model_dump())
        record_decision(context, full, contract, warehouse)

    @dg.job(
        name=names.review_job(name),
        partitions_def=dg.DynamicPartitionsDefinition(name=names.partitions(name)),
        tags={names.KIND_TAG: names.REVIEW_KIND, names.DATASET_TAG: name},
        description=f"Approve (the default) or reject a {name} file held for human review: pick its partition "
        f"in the Launchpad and launch; an approval publishes it ({names.publish_job(name)}).",
    )
    def partition_review_job():
        record_partition_decision()

    return partition_review_job


def record_decision(context: dg.OpExecutionContext, config: ReviewConfig, contract, warehouse: Warehouse) -> None:
    """Record the decision against the exact cleaned version; a rejection quarantines the file."""
    try:
        commit = validate(config, contract, warehouse)
    except ReviewRefused as e:
        context.instance.add_run_tags(context.run_id, review_tags(config))
        raise dg.Failure(description=f"review refused: {e}", allow_retries=False) from None
    version = int(commit["version"])
    # Launched from the UI the run has no tags yet: they are what makes every decision findable.
    held_run = str(commit.get("dagster_run_id") or "") or None
    context.instance.add_run_tags(context.run_id, review_tags(config, version, held_run))
    meta = {
        names.REVIEW_META: "approved" if config.decision == "approve" else "rejected",
        "reviewer": config.reviewer,
        "comment": config.comment,
        "cleaned_version": version,
        "held_by_run": held_run or "-",
    }
    if config.decision == "approve":
        text = (
            f"approved by {config.reviewer}: {config.comment or 'no comment'}; "
            f"{names.publish_job(config.dataset)} publishes the partition"
        )
    else:
        from dq_platform.defs.layers import date_columns

        moved, total = reject_partition(
            warehouse,
            contract,
            config.partition,
            run_id=context.run_id,
            reviewer=config.reviewer,
            date_columns=date_columns(contract),
        )
        meta.update(rows_moved_to_quarantine=moved, rows_quarantined=total)
        text = (
            f"rejected by {config.reviewer}: {config.comment}; the whole file ({total} rows) is in "
            f"{names.quarantine(config.dataset)}, nothing is published"
        )
    # The decision closes the held partition's human_review check (the alert sensor resolves its alert).
    context.log_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(names.cleaned(config.dataset)),
            check_name=names.REVIEW_CHECK,
            passed=True,
            metadata=meta,
            severity=dg.AssetCheckSeverity.WARN,
            description=text,
            partition=config.partition,
        )
    )
    context.log.info(f"{config.dataset} {config.partition}: {text}")


def build_publisher_sensor(contracts: list[Contract], publish_jobs: list) -> dg.SensorDefinition:
    """After an approval, publish the partition: one run of the dataset's publish job per decision."""

    @dg.run_status_sensor(
        run_status=dg.DagsterRunStatus.SUCCESS,
        name=names.REVIEW_PUBLISHER_SENSOR,
        monitored_jobs=None,
        request_jobs=publish_jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Publishes a held partition (masked + gold) once a reviewer approved it.",
    )
    def review_publisher(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if (
            run.tags.get(names.KIND_TAG) != names.REVIEW_KIND
            or run.tags.get(f"{names.REVIEW_TAG}decision") != "approve"
        ):
            return dg.SkipReason("not an approval")
        if published_by(context.instance, run.run_id):
            return dg.SkipReason(f"approval {run.run_id} already published (by the CLI)")
        return dg.RunRequest(
            run_key=run.run_id,
            job_name=names.publish_job(run.tags[f"{names.REVIEW_TAG}dataset"]),
            partition_key=run.tags[f"{names.REVIEW_TAG}partition"],
            tags=publish_tags(context.instance, run.run_id, run.tags),
        )

    return review_publisher


def publish_tags(instance: dg.DagsterInstance, review_run_id: str, review_run_tags: dict) -> dict[str, str]:
    """The approval it carries out, and the file it publishes (the held run's source tags, for the audit log)."""
    held = review_run_tags.get(names.HELD_RUN_TAG)
    held_run = instance.get_run_by_id(held) if held else None
    source = {k: v for k, v in held_run.tags.items() if k in names.SOURCE_TAGS} if held_run else {}
    return {
        **source,
        names.REVIEW_RUN_TAG: review_run_id,
        names.DATASET_TAG: review_run_tags.get(f"{names.REVIEW_TAG}dataset", ""),
        f"{names.REVIEW_TAG}reviewer": review_run_tags.get(f"{names.REVIEW_TAG}reviewer", ""),
    }


def published_by(instance: dg.DagsterInstance, review_run_id: str) -> bool:
    return bool(instance.get_run_records(filters=dg.RunsFilter(tags={names.REVIEW_RUN_TAG: review_run_id}), limit=1))


# -- the CLI's path: the same jobs, in this process, on the persistent instance ------------------


@dataclass
class ReviewOutcome:
    run_id: str
    success: bool
    error: str | None
    publish_run_id: str | None = None
    published: bool | None = None
    reports: dict[str, str] = field(default_factory=dict)  # the publish run's reports (reports.py)


def decide(
    instance: dg.DagsterInstance, config: ReviewConfig, *, contracts_dir: str, warehouse_root: str, trigger: str = "cli"
) -> ReviewOutcome:
    """Run the review job; after an approval run the dataset's publish job for the partition."""
    from dq_platform.reports.errors import root_cause

    def job(name: str):
        return dg.build_reconstructable_job(
            "dq_platform.definitions", "pipeline_job", reconstructable_args=(name, str(contracts_dir), warehouse_root)
        )

    level = settings.get("DQ_LOG_LEVEL").upper()  # the console shows warnings and errors only
    base = {"execution": {"config": {"in_process": {}}}, "loggers": {"console": {"config": {"log_level": level}}}}
    result = dg.execute_job(
        job(names.REVIEW_JOB),
        instance,
        run_config={**base, "ops": {REVIEW_OP: {"config": config.model_dump()}}},
        tags={**review_tags(config), names.TRIGGER_TAG: trigger},
        raise_on_error=False,
    )
    error = next((root_cause(ev.event_specific_data.error) for ev in result.all_events if ev.is_step_failure), None)
    outcome = ReviewOutcome(run_id=result.run_id, success=result.success, error=error)
    if result.success and config.decision == "approve":
        run = instance.get_run_by_id(result.run_id)
        publish_config = {**base, **run_config(process_per_step=False)}  # the dataset jobs' executor
        published = dg.execute_job(
            job(names.publish_job(config.dataset)),
            instance,
            run_config=publish_config,
            tags={
                **publish_tags(instance, result.run_id, run.tags),
                names.TRIGGER_TAG: trigger,
                names.PARTITION_TAG: config.partition,
            },
            raise_on_error=False,
        )
        outcome.publish_run_id, outcome.published = published.run_id, published.success
        from dq_platform.reports.run_report import write_reports  # reports reads this module's tags: imported late

        outcome.reports = write_reports(instance, published.run_id, Warehouse(root=warehouse_root))
        if not published.success:
            outcome.error = next(
                (root_cause(ev.event_specific_data.error) for ev in published.all_events if ev.is_step_failure),
                "publish run failed",
            )
    return outcome
