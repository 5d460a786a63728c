"""Asset checks that judge each file against the history Dagster already stores (defs/review.py).

Open-source Dagster has no anomaly detection. Every materialization it stores carries our
metadata (rows received, failure rate, column profile), so history is already there: these
checks read it back (metadata only, never table data) and judge the new file with
`history.judge` (median / MAD over a trailing window, optional weekly seasonality).

| check | value judged |
|---|---|
| `raw_<name>.row_count_matches_history` | the raw materialization's `rows_in` |
| `raw_<name>.arrival_matches_history` | hours since the previous file arrived (one-sided: late only) |
| `cleaned_<name>.failure_rate_matches_history` | the cleaned materialization's `failure_rate` |
| `cleaned_<name>.column_metrics_match_history` | `profile/<column>/null_rate` and `.../mean` (non-PII numeric) |

They are separate check definitions (one per asset, `can_subset`), in the dataset's pipeline
job after their asset, and never blocking: history can be wrong, so an anomaly warns (or, with
`severity: error`, alerts HIGH) but never holds a file back.

A file is the run's `dagster/partition` tag (asset checks on partitioned assets carry no
partition in Dagster 1.13). History is one point per other file: its latest materialization,
dated by its arrival (first materialization). Outside a file's run (the `<name>_history_checks`
job on its hourly schedule, or a check executed alone from the UI) the arrival check measures
the hours since the last file arrived until now, so a file that never came is caught too; the
other checks judge the newest file.
"""

import datetime as dt
import math
import time
from dataclasses import dataclass, field

import dagster as dg

from dq_platform import names
from dq_platform.contract import ColumnType, Contract
from dq_platform.defs.history_read import (
    HistoryRead,
    horizon_for,
    judge_arrival,
    judge_value,
    read_history,
    settings_of,
)
from dq_platform.engine.history import (
    COUNT,
    LATENESS,
    LEVEL,
    RATE,
    Kind,
    Settings,
    Verdict,
    iso,
)

HOURLY = "0 * * * *"


class HistoryCheckConfig(dg.Config):
    """`as_of`: judge as of this UTC time (ISO-8601) instead of now, outside a file's run.

    What "now" is for the overdue-file watch; also lets a past moment be re-checked.
    """

    as_of: str | None = None


def _as_of(config: HistoryCheckConfig) -> float:
    if not config.as_of:
        return time.time()
    try:
        when = dt.datetime.fromisoformat(config.as_of)
    except ValueError:
        raise ValueError(f"as_of '{config.as_of}' is not an ISO-8601 time, e.g. 2026-11-23T09:00:00+00:00") from None
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


# -- words and metadata ------------------------------------------------------------------------


def _num(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:,.2f}" if abs(x) >= 1 else f"{x:.4g}"


def fmt(kind: Kind, x: float | None) -> str:
    if x is None:
        return "-"
    if kind is COUNT:
        return f"{x:,.0f}"
    if kind is RATE:
        return f"{x:.2%}"
    if kind is LATENESS:
        return f"{x:,.1f} h"
    return _num(x)


def span(seconds: float) -> str:
    """28 days, 36 hours, 90 minutes."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = int(seconds // size)
            return f"{n} {unit}" + ("s" if n != 1 else "")
    return f"{seconds / 3600:.1f} hours"


def expected(v: Verdict, kind: Kind) -> str:
    if kind.one_sided:
        return f"at most {fmt(kind, v.expected_high)}"
    return f"{fmt(kind, v.expected_low)}–{fmt(kind, v.expected_high)}"


def basis(v: Verdict, kind: Kind, noun: str) -> str:
    """'median 1,000 over 14 files in the last 28 days' (weekday-seasonal: '14 Saturday files')."""
    day = f"{v.weekday} " if v.weekday else ""
    return f"median {fmt(kind, v.median)} over {v.points} {day}{noun} in the last {span(v.window_end - v.window_start)}"


def learning(v: Verdict, noun: str) -> str:
    day = f"{v.weekday} " if v.weekday else ""
    return (
        f"learning: {v.points} of {v.needed} {day}{noun} in the last {span(v.window_end - v.window_start)}; "
        f"judged from {v.needed} on"
    )


def verdict_metadata(v: Verdict, kind: Kind) -> dict:
    """Flat, numeric where it can be: Dagster plots numbers, alerts quote them as counts."""
    meta = {
        "judged": v.judged,
        "reason": v.reason,
        "window_days": round(v.window_days, 4),
        "window_start": iso(v.window_start),
        "window_end": iso(v.window_end),
        "history_points": v.points,
        "min_history": v.needed,
        "threshold": v.threshold,
        "seasonality": v.seasonality + (f" ({v.weekday})" if v.weekday else ""),
    }
    if v.weekday:
        meta["weekday"] = v.weekday
    for name, x in (
        ("value", v.value),
        ("expected_low", v.expected_low),
        ("expected_high", v.expected_high),
        ("median", v.median),
        ("mad", v.mad),
        ("robust_scale", v.scale),
        ("robust_z", v.robust_z),
        ("small_sample_factor", v.small_sample_factor),
    ):
        if x is not None and math.isfinite(x):
            meta[name] = round(float(x), 6)
    if v.scale_basis:
        meta["scale_basis"] = v.scale_basis
    return meta


# -- the checks --------------------------------------------------------------------------------


@dataclass
class HistoryChecks:
    checks: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    schedules: list = field(default_factory=list)


def column_metrics(contract: Contract) -> list[tuple[str, str, Kind]]:
    """(label, metadata key, kind) per contract column: null rate of each, mean of numeric non-PII ones."""
    out = []
    for c in contract.columns:
        out.append((f"{c.name} null rate", f"profile/{c.name}/null_rate", RATE))
        if c.type in (ColumnType.integer, ColumnType.float) and c.pii is None:
            out.append((f"{c.name} mean", f"profile/{c.name}/mean", LEVEL))
    return out


def build_history_checks(contract: Contract, raw_key: dg.AssetKey, cleaned_key: dg.AssetKey) -> HistoryChecks:
    """The dataset's history checks, and the check-only job + hourly schedule watching for overdue files."""
    h = contract.history
    if not h.enabled:
        return HistoryChecks()
    name = contract.name
    settings = settings_of(h)
    severity = dg.AssetCheckSeverity.ERROR if h.severity == "error" else dg.AssetCheckSeverity.WARN
    window = span(settings.window_s)
    seasonal = " (same weekday only)" if settings.seasonality == "weekly" else ""
    raw_specs, cleaned_specs = [], []
    if "row_count" in h.metrics:
        raw_specs.append(
            dg.AssetCheckSpec(
                names.ROW_COUNT_HISTORY_CHECK,
                asset=raw_key,
                description=f"Rows received are within what the files of the last {window}"
                f"{seasonal} predict (median ± {h.threshold:g} robust σ).",
            )
        )
    if "arrival" in h.metrics:
        raw_specs.append(
            dg.AssetCheckSpec(
                names.ARRIVAL_HISTORY_CHECK,
                asset=raw_key,
                description=f"Files arrive no later than the gaps between files of the last "
                f"{window}{seasonal} predict; checked hourly for a file that never came.",
            )
        )
    if "failure_rate" in h.metrics:
        cleaned_specs.append(
            dg.AssetCheckSpec(
                names.FAILURE_RATE_HISTORY_CHECK,
                asset=cleaned_key,
                description=f"The share of rows failing row rules is within what the "
                f"files of the last {window}{seasonal} predict.",
            )
        )
    if "column_metrics" in h.metrics:
        cleaned_specs.append(
            dg.AssetCheckSpec(
                names.COLUMN_METRICS_HISTORY_CHECK,
                asset=cleaned_key,
                description=f"Each column's null rate (and mean, numeric non-PII "
                f"columns) is within what the files of the last {window}"
                f"{seasonal} predict.",
            )
        )
    out = HistoryChecks()

    if raw_specs:

        @dg.multi_asset_check(
            name=names.history_checks(names.raw(name)),
            specs=raw_specs,
            can_subset=True,
            description=f"Row count and arrival of each {name} file against history.",
        )
        def raw_history(context: dg.AssetCheckExecutionContext, config: HistoryCheckConfig):
            selected = {k.name for k in context.selected_asset_check_keys}
            partition = context.run.tags.get(names.PARTITION_TAG)
            now = _as_of(config)
            t0 = time.perf_counter()
            read = read_history(
                context.instance,
                raw_key,
                before=None if partition else now,
                horizon=horizon_for(
                    settings,
                    partition,
                    names.ROW_COUNT_HISTORY_CHECK in selected,
                    names.ARRIVAL_HISTORY_CHECK in selected,
                ),
            )
            context.log.info(
                f"history of {raw_key.to_user_string()}: {len(read.materializations)} materializations "
                f"in {read.queries} storage queries, {time.perf_counter() - t0:.3f}s"
            )
            if names.ROW_COUNT_HISTORY_CHECK in selected:
                verdict, current = judge_value(read, "rows_in", partition, settings, COUNT)
                yield _value_result(
                    raw_key, names.ROW_COUNT_HISTORY_CHECK, verdict, current, severity, COUNT, "rows", "files"
                )
            if names.ARRIVAL_HISTORY_CHECK in selected:
                yield _arrival_result(raw_key, read, partition, now, settings, severity)

        out.checks.append(raw_history)
        if names.ARRIVAL_HISTORY_CHECK in {s.name for s in raw_specs}:
            job = dg.define_asset_job(
                names.history_job(name),
                selection=dg.AssetSelection.checks(dg.AssetCheckKey(raw_key, names.ARRIVAL_HISTORY_CHECK)),
                tags={names.DATASET_TAG: name, names.KIND_TAG: names.HISTORY_CHECKS_KIND},
                description=f"Outside any file's run: has a {name} file arrived as often as history predicts?",
            )
            out.jobs.append(job)
            out.schedules.append(
                dg.ScheduleDefinition(
                    name=names.history_schedule(name),
                    job=job,
                    cron_schedule=HOURLY,
                    default_status=dg.DefaultScheduleStatus.RUNNING,
                    description=f"Hourly: flags a {name} file that is later than the gaps between past files predict.",
                )
            )

    if cleaned_specs:
        metrics = column_metrics(contract)

        @dg.multi_asset_check(
            name=names.history_checks(names.cleaned(name)),
            specs=cleaned_specs,
            can_subset=True,
            description=f"Failure rate and column profile of each {name} file against history.",
        )
        def cleaned_history(context: dg.AssetCheckExecutionContext, config: HistoryCheckConfig):
            selected = {k.name for k in context.selected_asset_check_keys}
            partition = context.run.tags.get(names.PARTITION_TAG)
            now = _as_of(config)
            read = read_history(
                context.instance,
                cleaned_key,
                before=None if partition else now,
                horizon=horizon_for(settings, partition, True, False),
            )
            context.log.info(
                f"history of {cleaned_key.to_user_string()}: {len(read.materializations)} "
                f"materializations in {read.queries} storage queries"
            )
            if names.FAILURE_RATE_HISTORY_CHECK in selected:
                verdict, current = judge_value(read, "failure_rate", partition, settings, RATE)
                yield _value_result(
                    cleaned_key,
                    names.FAILURE_RATE_HISTORY_CHECK,
                    verdict,
                    current,
                    severity,
                    RATE,
                    "of rows failed row rules",
                    "files",
                )
            if names.COLUMN_METRICS_HISTORY_CHECK in selected:
                yield _column_metrics_result(cleaned_key, read, partition, settings, severity, metrics)

        out.checks.append(cleaned_history)
    return out


def _not_judged(key, check, severity, description, **meta) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check,
        passed=True,
        severity=severity,
        description=description,
        metadata={"judged": False, "reason": description, **meta},
    )


def _value_result(
    key, check, verdict: Verdict | None, current: str | None, severity, kind: Kind, unit: str, noun: str
) -> dg.AssetCheckResult:
    if verdict is None:
        return _not_judged(key, check, severity, f"no materialization of {current or 'any file'} to judge")
    value = f"{fmt(kind, verdict.value)} {unit}"
    if verdict.value is None:
        text = "not judged: the file's materialization has no value for this metric"
    elif not verdict.judged:
        text = f"{value}; {learning(verdict, noun)}"
    else:
        text = f"{value}; history predicts {expected(verdict, kind)} ({basis(verdict, kind, noun)})"
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=check,
        passed=verdict.passed,
        severity=severity,
        description=text,
        metadata={**verdict_metadata(verdict, kind), "partition": current or "-"},
    )


def _arrival_result(
    key, read: HistoryRead, partition: str | None, now: float, settings: Settings, severity
) -> dg.AssetCheckResult:
    verdict, info = judge_arrival(read, partition, now, settings)
    mode = "file" if partition else "overdue watch"
    if verdict is None:
        text = (
            "no file has arrived yet"
            if not info
            else "the first file of the dataset: no previous arrival to compare with"
            if partition
            else "nothing to judge"
        )
        return _not_judged(key, names.ARRIVAL_HISTORY_CHECK, severity, text, mode=mode, **info)
    if partition:
        value = f"arrived {fmt(LATENESS, verdict.value)} after the previous file"
    else:
        value = f"no new file for {fmt(LATENESS, verdict.value)} (last arrived {info['last_arrival']})"
    if not verdict.judged:
        text = f"{value}; {learning(verdict, 'gaps between files')}"
    else:
        text = f"{value}; history predicts {expected(verdict, LATENESS)} ({basis(verdict, LATENESS, 'gaps between files')})"
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=names.ARRIVAL_HISTORY_CHECK,
        passed=verdict.passed,
        severity=severity,
        description=text,
        metadata={**verdict_metadata(verdict, LATENESS), "mode": mode, **info, "partition": partition or "-"},
    )


def _column_metrics_result(
    key, read: HistoryRead, partition: str | None, settings: Settings, severity, metrics: list[tuple[str, str, Kind]]
) -> dg.AssetCheckResult:
    current = partition or read.newest_partition
    mine = [m for m in read.materializations if m.partition == current]
    if not mine:
        return _not_judged(
            key, names.COLUMN_METRICS_HISTORY_CHECK, severity, f"no materialization of {current or 'any file'} to judge"
        )
    recorded = [(label, mkey, kind) for label, mkey, kind in metrics if mine[0].metadata.get(mkey) is not None]
    if not recorded:
        return _not_judged(
            key,
            names.COLUMN_METRICS_HISTORY_CHECK,
            severity,
            "no column profile on this materialization (profile/<column>/null_rate, "
            "profile/<column>/mean): nothing to judge",
            partition=current,
        )
    results: list[tuple[str, str, Kind, Verdict]] = []
    read.points([mkey for _, mkey, _ in recorded])  # one pass over the materializations for every metric
    for label, mkey, kind in recorded:
        verdict, _ = judge_value(read, mkey, current, settings, kind)
        results.append((label, mkey, kind, verdict))
    judged = [r for r in results if r[3].judged]
    bad = [r for r in judged if not r[3].passed]
    rows = ["| metric | value | expected range | robust z | verdict |", "|---|---|---|---|---|"]
    for label, _, kind, v in results:
        if v.judged:
            z = f"{v.robust_z:+.1f}" if math.isfinite(v.robust_z) else ("+inf" if v.robust_z > 0 else "-inf")
            rows.append(
                f"| {label} | {fmt(kind, v.value)} | {expected(v, kind)} | {z} | "
                f"{'ok' if v.passed else '**anomaly**'} |"
            )
        else:
            rows.append(f"| {label} | {fmt(kind, v.value)} | - | - | learning {v.points}/{v.needed} |")
    meta = {
        "metrics": dg.MetadataValue.md("\n".join(rows)),
        "metrics_judged": len(judged),
        "metrics_anomalous": len(bad),
        "metrics_learning": len(results) - len(judged),
        "judged_keys": ", ".join(k for _, k, _, v in results if v.judged) or "-",
        "partition": current,
    }
    if not judged:
        v = results[0][3]
        text = f"{len(results)} column metrics recorded; {learning(v, 'files')}"
        return dg.AssetCheckResult(
            asset_key=key,
            check_name=names.COLUMN_METRICS_HISTORY_CHECK,
            passed=True,
            severity=severity,
            description=text,
            metadata={**verdict_metadata(v, results[0][2]), **meta, "metric": results[0][0]},
        )
    label, _, kind, worst = max(judged, key=lambda r: abs(r[3].robust_z))
    if bad:
        text = (
            f"{len(bad)} of {len(judged)} column metrics outside history; worst: {label} "
            f"{fmt(kind, worst.value)}, history predicts {expected(worst, kind)} ({basis(worst, kind, 'files')})"
        )
    else:
        text = (
            f"{len(judged)} column metrics within history; largest deviation: {label} {fmt(kind, worst.value)}, "
            f"history predicts {expected(worst, kind)} ({basis(worst, kind, 'files')})"
        )
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=names.COLUMN_METRICS_HISTORY_CHECK,
        passed=not bad,
        severity=severity,
        description=text,
        metadata={**verdict_metadata(worst, kind), **meta, "metric": label},
    )


__all__ = ["HistoryCheckConfig", "build_history_checks", "column_metrics"]
