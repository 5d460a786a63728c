"""The contract's `statistics:` sections as asset checks on cleaned_<name>, evaluated in the clean step.

Per declared column: `<column>_outliers_within_limits` (every method's share of flagged values
within its max_rate) and `<column>_distribution_stable` (PSI / KS statistic against the previous
good partition). WARN by default; `severity: error` makes them blocking gates like the others, so
a failure marks the cleaned commit's gates failed and masked/gold are not published.

Flagged rows are kept: the clean step writes the `_outliers` lineage column (rule ids per row).
Metadata holds counts, rates and thresholds; bounds and cluster centers (values of the column)
only for non-PII columns.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import dagster as dg
import pandas as pd

from dq_platform import names
from dq_platform.contract import Column, Contract
from dq_platform.engine import statistics as st
from dq_platform.io.warehouse import Warehouse

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def outlier_check_name(column: Column) -> str:
    return names.outlier_check(column.name)


def drift_check_name(column: Column) -> str:
    return names.drift_check(column.name)


def _declared(contract: Contract) -> list[Column]:
    return [c for c in contract.columns if c.statistics is not None]


def _method_text(o) -> str:
    m = o.method.value
    param = (
        f"k={o.k:g}"
        if m == "iqr"
        else f"|z|>{o.threshold:g}"
        if m == "zscore"
        else f"|modified z|>{o.threshold:g}"
        if m == "mad"
        else f"{int(o.k)} clusters, <{o.min_cluster_share:.1%} of rows"
    )
    return f"{o.method.value} ({param}{', on log1p' if o.log else ''}) <= {o.max_rate:.2%}"


def check_specs(contract: Contract, asset: dg.AssetKey) -> list[dg.AssetCheckSpec]:
    """One spec per declared check; blocking when the column's severity is error."""
    specs = []
    for c in _declared(contract):
        s = c.statistics
        blocking = s.severity == "error"
        if s.outliers:
            specs.append(
                dg.AssetCheckSpec(
                    outlier_check_name(c),
                    asset=asset,
                    blocking=blocking,
                    description=f"{c.name}: share of values flagged as outliers per method: "
                    + "; ".join(_method_text(o) for o in s.outliers)
                    + ". Flagged rows are kept and named in the _outliers column.",
                )
            )
        if s.drift is not None:
            ks = (
                ""
                if c.type.value not in ("integer", "float")
                else f", KS statistic <= {s.drift.ks_statistic or st.DEFAULT_KS_STATISTIC:g}"
            )
            specs.append(
                dg.AssetCheckSpec(
                    drift_check_name(c),
                    asset=asset,
                    blocking=blocking,
                    description=f"{c.name}: distribution close to the previous partition that passed its gates "
                    f"(PSI <= {s.drift.psi:g}{ks}).",
                )
            )
    return specs


def reference_partition(warehouse: Warehouse, table: str, current: str) -> str | None:
    """The newest other partition of `table` whose latest commit recorded dq_gates=passed.

    Walks the Delta history newest first; a partition counts by its newest write only (a re-run
    that failed its gates replaces an earlier good one). A RESTORE ends the walk: commits before
    it no longer describe the table's content.
    """
    dt = warehouse.table(table)
    if dt is None:
        return None
    rows = warehouse.row_counts(table)
    seen = {current}
    for entry in dt.history():
        op = entry.get("operation")
        if op == "RESTORE":
            return None
        if op not in ("WRITE", "CREATE TABLE"):
            continue
        part = entry.get("dagster_partition")
        if not part or part in seen:
            continue
        seen.add(part)
        if entry.get("dq_gates") == "passed" and rows.get(part, 0) > 0:
            return part
    return None


@dataclass
class StatisticsOutcome:
    check_results: list[dg.AssetCheckResult] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)  # for the cleaned materialization
    gates_passed: bool = True  # False when an error-severity statistic failed
    seconds: float = 0.0


def evaluate(
    contract: Contract, cleaned: pd.DataFrame, warehouse: Warehouse, asset: dg.AssetKey, partition: str
) -> StatisticsOutcome:
    """Outliers and drift of every declared column; adds the `_outliers` column to `cleaned` (in place)."""
    started = time.perf_counter()
    out = StatisticsOutcome()
    columns = _declared(contract)
    if not columns:
        return out
    flagged: list[st.OutlierResult] = []
    drift_cols = [c for c in columns if c.statistics.drift is not None and c.name in cleaned.columns]
    reference_name = reference = None
    if drift_cols:
        reference_name = reference_partition(warehouse, asset.path[-1], partition)
        if reference_name is not None:
            reference = warehouse.read(asset.path[-1], partition=reference_name, columns=[c.name for c in drift_cols])
    for c in columns:
        s = c.statistics
        severity = ERROR if s.severity == "error" else WARN
        if s.outliers:
            results = st.outliers(cleaned[c.name], c) if c.name in cleaned.columns else []
            flagged += results
            result = _outlier_result(c, results, asset, severity)
            out.check_results.append(result)
            out.gates_passed &= result.passed or severity == WARN
            for r in results:
                out.metadata[f"outliers/{r.rule_id}"] = r.count
        if s.drift is not None:
            ref = reference[c.name] if reference is not None and c.name in reference.columns else None
            d = st.drift(cleaned[c.name], ref, c, reference_name if ref is not None else None)
            result = _drift_result(c, d, asset, severity)
            out.check_results.append(result)
            out.gates_passed &= result.passed or severity == WARN
    if any(s.outliers for s in (c.statistics for c in columns)):
        cleaned[st.OUTLIERS] = st.outlier_labels(flagged, len(cleaned)).set_axis(cleaned.index)
        out.metadata["rows_flagged_outliers"] = int(cleaned[st.OUTLIERS].notna().sum())
    out.seconds = time.perf_counter() - started
    return out


def _outlier_result(
    c: Column, results: list[st.OutlierResult], asset: dg.AssetKey, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    meta: dict = {"values_evaluated": results[0].evaluated if results else 0, "min_rows": c.statistics.min_rows}
    parts, failing = [], []
    for r in results:
        meta.update(
            {f"{r.method}/count": r.count, f"{r.method}/rate": round(r.rate, 6), f"{r.method}/max_rate": r.max_rate}
        )
        if c.pii is None:  # bounds are values of the column
            meta.update({f"{r.method}/{k}": round(v, 6) for k, v in r.bounds.items()})
        if r.note:
            meta[f"{r.method}/note"] = r.note
        parts.append(f"{r.method} {r.count:,} ({r.rate:.2%}, max {r.max_rate:.2%})")
        if not r.passed:
            failing.append(r.method)
    evaluated = results[0].evaluated if results else 0
    if not results:
        text = f"{c.name}: column not in the cleaned frame; nothing evaluated"
    elif not results[0].judged:
        text = (
            f"{c.name}: {evaluated:,} values, fewer than min_rows {results[0].min_rows:,}: rates not judged; "
            f"flagged by " + "; ".join(parts) + ". Rows are kept; the _outliers column names the methods per row."
        )
    else:
        text = (
            f"{c.name}: {'above the limit: ' + ', '.join(failing) + '. ' if failing else ''}"
            f"{evaluated:,} values; flagged by "
            + "; ".join(parts)
            + ". Rows are kept; the _outliers column names the methods per row."
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=outlier_check_name(c),
        passed=not failing,
        severity=severity,
        description=text,
        metadata=meta,
    )


def _drift_result(
    c: Column, d: st.DriftResult, asset: dg.AssetKey, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    meta = {
        "reference_partition": d.reference or "-",
        "rows_compared": d.rows_current,
        "reference_rows": d.rows_reference,
        "psi_max": d.psi_max,
        "kind": d.kind,
    }
    if d.psi is not None:
        meta.update({"psi": round(d.psi, 6), "bins" if d.kind == "numeric" else "categories": d.bins})
    if d.ks_statistic is not None:
        meta.update(
            {
                "ks_statistic": round(d.ks_statistic, 6),
                "ks_pvalue": float(f"{d.ks_pvalue:.6g}"),
                "ks_statistic_max": d.ks_max,
            }
        )
    if d.psi is None:
        text = f"{c.name}: {d.note}; passes."
    else:
        ks = (
            f", KS statistic {d.ks_statistic:.3f} (max {d.ks_max:g}, p={d.ks_pvalue:.3g})"
            if d.ks_statistic is not None
            else ""
        )
        verdict = "shifted" if not d.passed else "stable"
        text = (
            f"{c.name}: {verdict} against {d.reference}: PSI {d.psi:.3f} (max {d.psi_max:g}){ks}; "
            f"{d.rows_current:,} values compared with {d.rows_reference:,}."
        )
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=drift_check_name(c),
        passed=d.passed,
        severity=severity,
        description=text,
        metadata=meta,
    )
