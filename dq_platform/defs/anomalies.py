"""`<name>_anomalies`: the anomalies a contract's `anomalies:` rules find in its published events.

One unpartitioned Delta table per dataset, downstream of `masked_<name>` (only validated, GDPR-safe
events are judged), one row per anomaly (anomalies.FIELDS). A file's run recomputes only what the
file can change and replaces exactly that, so a window spanning two files is found whatever order
they arrive in:

- row rules: the file's own matching events; replaces that rule's anomalies of the file.
- window rules: the bursts in the file's time range widened by one window on each side and to every
  stored burst it overlaps (anomalies.affected_range), recomputed over the masked events of ALL files
  in that range (a Delta scan filtered on the time column); replaces the rule's anomalies inside it.

All of a run's replacements are one Delta commit (a predicate overwrite), whose metadata records them
(`dq_scopes`), so the PostgreSQL publisher mirrors exactly the same change. The commit is made against
the table version taken before anything was read: if another run changed the same rows meanwhile,
Delta refuses it and everything is recomputed from fresh reads (a run that read stale data never wins).
Materialized alone (no file in the run, e.g. from the UI after a rule changed), it recomputes the whole
table from every published file.

Checks, one per rule (`anomaly_<rule id>`), non-blocking, severity from the rule: failed when an
anomaly of the rule involves the run's file (so a re-run of the file gives the same answer, and the
alert resolves with the next file that brings none). The blocking `anomalies_have_no_pii` gate keeps
anything PII-shaped out of the table.
"""

import datetime as dt
import json
import re
import time

import dagster as dg
import numpy as np
import pandas as pd
from deltalake.exceptions import CommitFailedError

from dq_platform import names
from dq_platform.contract import Anomaly, Contract
from dq_platform.engine import anomalies
from dq_platform.io.warehouse import Warehouse, _sql_literal

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
COMMIT_RETRIES = 5


def anomalies_key(contract: Contract) -> dg.AssetKey:
    return dg.AssetKey(names.anomalies(contract.name))


def check_name(rule: Anomaly) -> str:
    return names.anomaly_check(rule.id)


def _schema(contract: Contract) -> dg.TableSchema:
    types = {
        "string": "string",
        "datetime64[ns]": "timestamp",
        "Int64": "integer",
        "Float64": "float",
        "boolean": "boolean",
    }
    return dg.TableSchema(
        columns=[dg.TableColumn(name=c, type=types.get(t, t)) for c, t in anomalies.output_dtypes(contract).items()]
    )


def _rule_text(rule: Anomaly) -> str:
    if rule.window:
        w = rule.window
        by = f" of one {'/'.join(w.group_by)}" if w.group_by else ""
        return f"more than {w.count_above} {rule.label}{by} within {w.size}" + (
            f" ({rule.where})" if rule.where else ""
        )
    return f"every event where {rule.where}"


def build_anomaly_asset(contract: Contract, masked_key: dg.AssetKey, common: dict) -> dg.AssetsDefinition:
    key = anomalies_key(contract)
    specs = [
        dg.AssetCheckSpec(
            check_name(r),
            asset=key,
            blocking=False,
            description=(r.description or _rule_text(r)) + f" Severity {r.severity}: fails when an "
            f"anomaly of this rule involves the run's file.",
        )
        for r in contract.anomalies
    ]
    specs.append(
        dg.AssetCheckSpec(
            names.ANOMALIES_PII_CHECK,
            asset=key,
            blocking=True,
            description="No PII pattern in any text column of the anomalies written.",
        )
    )
    rules_md = "; ".join(f"{r.id}: {_rule_text(r)}" for r in contract.anomalies)

    @dg.asset(
        key=key,
        deps=[masked_key],
        kinds={"delta", "pandas"},
        output_required=False,
        check_specs=specs,
        description=f"Anomalies found by the contract's rules in the published (masked) {contract.name} events, "
        f"one row per anomaly; a burst of a window rule is one row. Rules: {rules_md}.",
        metadata={"dagster/column_schema": _schema(contract)},
        **common,
    )
    def detect(context: dg.AssetExecutionContext, warehouse: Warehouse):
        partition = context.run.tags.get(names.PARTITION_TAG)
        started = time.perf_counter()
        result = refresh(warehouse, contract, partition, context.run_id)
        seconds = round(time.perf_counter() - started, 4)
        if result.leaks:
            context.log.error(
                f"{key.to_user_string()}: {sum(result.leaks.values())} value(s) look like PII; anomalies not written"
            )
        else:
            yield dg.MaterializeResult(
                metadata={
                    "anomalies_written": result.written,
                    "anomalies_involving_file": sum(result.involving.values()),
                    "dagster/row_count": result.rows_total,
                    "delta_version": result.version,
                    "source_file": partition or "- (full recomputation)",
                    "recomputed": dg.MetadataValue.md(result.scope_markdown()),
                    "seconds/detect": seconds,
                    "commit_retries": result.retries,
                    names.GATES_KEY: "passed",
                }
            )
        # the gate first: a run it holds names it, not an anomaly rule, as the reason
        meta = {"values_flagged": sum(result.leaks.values()), **{k: v for k, v in result.leaks.items()}}
        yield dg.AssetCheckResult(
            check_name=names.ANOMALIES_PII_CHECK,
            passed=not result.leaks,
            severity=ERROR,
            metadata=meta,
            description="no PII pattern in the anomalies"
            if not result.leaks
            else f"{sum(result.leaks.values())} value(s) look like PII (counts per column/kind); not written",
        )
        for rule in contract.anomalies:
            yield result.check(rule, partition)

    return detect


# -- recomputation ------------------------------------------------------------------------------


class Refresh:
    """What one run recomputed, wrote and found; turned into check results and metadata."""

    def __init__(self):
        self.rows: dict[str, pd.DataFrame] = {}  # rule id -> its recomputed anomalies
        self.scopes: list[dict] = []  # what was replaced, per rule (also in the Delta commit)
        self.involving: dict[str, int] = {}  # rule id -> anomalies involving the run's file
        self.matching: dict[str, int] = {}  # rule id -> the file's events matching the rule
        self.leaks: dict[str, int] = {}
        self.written = 0
        self.rows_total = 0
        self.version = -1
        self.full = False
        self.retries = 0  # recomputations after a concurrent commit to the same rows

    def scope_markdown(self) -> str:
        if not self.scopes:
            return "nothing to recompute: no event of the file matches a rule"
        lines = ["| rule | replaced | anomalies |", "|---|---|---|"]
        for s in self.scopes:
            where = {
                "all": "whole table",
                "rule": "all of the rule (a stored burst straddled the range)",
                "row": f"file {s.get('partition')}",
            }.get(s["kind"], f"{s.get('start')} .. {s.get('end')}")
            lines.append(f"| {s['rule_id']} | {where} | {s['anomalies']} |")
        return "\n".join(lines)

    def check(self, rule: Anomaly, partition: str | None) -> dg.AssetCheckResult:
        rows = self.rows.get(rule.id)
        recomputed = 0 if rows is None else len(rows)
        mine = rows[_involves(rows, partition)] if rows is not None and partition is not None else None
        n = 0 if mine is None else len(mine)
        meta = {
            "anomalies_involving_file": n,
            "anomalies_recomputed": recomputed,
            "matching_events_in_file": self.matching.get(rule.id, 0),
        }
        if rule.window:
            meta.update(threshold=rule.window.count_above, window_seconds=rule.window.seconds)
            if n:
                meta["max_events_in_window"] = int(mine["peak_count"].max())
        if partition is None:
            text = f"full recomputation (no file in this run): {recomputed} anomaly(ies) of this rule in total"
        elif n == 0:
            text = f"no anomaly of this rule ({_rule_text(rule)}) involves {partition}"
        elif self.leaks:  # never repeat what the PII gate flagged
            text = (
                f"{n} anomaly(ies) of this rule involve {partition}; descriptions withheld and nothing "
                f"written: {names.ANOMALIES_PII_CHECK} flagged values in them"
            )
        else:
            shown = mine.sort_values("window_start")["description"].head(5).tolist()
            more = f"\n(+{n - len(shown)} more in {rule.id})" if n > len(shown) else ""
            text = "\n".join(shown) + more
        return dg.AssetCheckResult(
            check_name=check_name(rule),
            passed=n == 0,
            severity=ERROR if rule.severity == "error" else WARN,
            description=text,
            metadata=meta,
        )


def _involves(rows: pd.DataFrame, partition: str) -> np.ndarray:
    pattern = r"(?:^|,)" + re.escape(partition) + r"(?:,|$)"
    return rows["partitions"].astype("string").str.contains(pattern, regex=True).fillna(False).to_numpy(dtype=bool)


def _ts(value) -> str:
    return pd.Timestamp(value).isoformat()


def refresh(
    warehouse: Warehouse, contract: Contract, partition: str | None, run_id: str, now: dt.datetime | None = None
) -> Refresh:
    """Recompute what `partition` (None: everything) can change, scan it, and replace it in one commit.

    The anomalies table's version is taken before anything is read, and the commit is made against
    it: if another run committed a change to the same rows meanwhile, the commit fails and everything
    is read and recomputed again. So of two runs racing over adjacent files, the one that read the other's
    events too is the one that wins (a result computed from stale reads never overwrites a fresh one).
    """
    name = table_name(contract)
    for attempt in range(COMMIT_RETRIES + 1):
        snapshot = warehouse.table(name)
        if snapshot is None:
            warehouse.create_empty(name, anomalies.empty(contract), run_id=run_id)
            snapshot = warehouse.table(name)
        result = _recompute(warehouse, snapshot, contract, partition, run_id, now)
        if result.leaks or (not result.scopes and not result.full):
            break
        frames = [f for f in result.rows.values() if len(f)]
        data = pd.concat(frames, ignore_index=True) if frames else anomalies.empty(contract)
        predicate = None if result.full else " OR ".join(f"({s['predicate']})" for s in result.scopes)
        scopes = [{k: v for k, v in s.items() if k != "predicate"} for s in result.scopes]
        try:
            info = warehouse.replace_where(
                name,
                data.astype(anomalies.output_dtypes(contract)),
                predicate,
                run_id=run_id,
                snapshot=snapshot,
                extra_metadata={
                    "dq_gates": "passed",
                    "dq_scopes": json.dumps(scopes),
                    "dq_source_partition": partition or "",
                },
            )
        except CommitFailedError:
            if attempt == COMMIT_RETRIES:
                raise
            time.sleep(0.1 * 2**attempt)
            continue  # another run changed the same rows meanwhile: read and recompute
        result.scopes, result.written = scopes, info.rows
        break
    result.retries = attempt
    result.version = warehouse.table(name).version()
    result.rows_total = sum(warehouse.row_counts(name).values())
    return result


def table_name(contract: Contract) -> str:
    return anomalies_key(contract).path[-1]


def _recompute(
    warehouse: Warehouse, snapshot, contract: Contract, partition: str | None, run_id: str, now: dt.datetime | None
) -> Refresh:
    from dq_platform.engine.pii import scan_frame

    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    masked = names.masked(contract.name)
    columns = anomalies.needed_columns(contract)
    out = Refresh()
    if partition is None:
        out.full = True
        events = warehouse.read(masked, columns=columns) if warehouse.table(masked) is not None else None
        for rule in contract.anomalies:
            out.rows[rule.id] = _detect(events, rule, contract, now, run_id)
            out.scopes.append({"rule_id": rule.id, "kind": "all", "anomalies": len(out.rows[rule.id])})
    else:
        if warehouse.table(masked) is None:
            return out
        stored = _stored(snapshot)  # as of the version the write will be checked against
        mine = warehouse.read(masked, partition=partition, columns=columns)
        for rule in contract.anomalies:
            hit = anomalies.matches(mine, rule)
            if rule.window is not None:
                hit &= mine[rule.window.time_column].notna().to_numpy()
            out.matching[rule.id] = int(hit.sum())
            if rule.window is None:
                rows = anomalies.row_rows(mine, rule, contract, now, run_id)
                out.scopes.append(
                    {
                        "rule_id": rule.id,
                        "kind": "row",
                        "partition": partition,
                        "anomalies": len(rows),
                        "predicate": f"rule_id = {_sql_literal(rule.id)} AND partitions = {_sql_literal(partition)}",
                    }
                )
            elif hit.any():
                times = mine.loc[hit, rule.window.time_column]
                rows, lo, hi = _window(
                    warehouse,
                    contract,
                    rule,
                    times.min(),
                    times.max(),
                    stored[stored["rule_id"] == rule.id],
                    now,
                    run_id,
                )
                if lo is None:  # the whole rule was recomputed
                    out.scopes.append(
                        {
                            "rule_id": rule.id,
                            "kind": "rule",
                            "anomalies": len(rows),
                            "predicate": f"rule_id = {_sql_literal(rule.id)}",
                        }
                    )
                else:
                    out.scopes.append(
                        {
                            "rule_id": rule.id,
                            "kind": "window",
                            "start": _ts(lo),
                            "end": _ts(hi),
                            "anomalies": len(rows),
                            "predicate": f"rule_id = {_sql_literal(rule.id)} AND window_start >= '{_ts(lo)}' "
                            f"AND window_end <= '{_ts(hi)}'",
                        }
                    )
            else:
                continue  # no event of the file matches: nothing this file can change
            out.rows[rule.id] = rows
            out.involving[rule.id] = int(_involves(rows, partition).sum()) if len(rows) else 0
    frames = [f for f in out.rows.values() if len(f)]
    if frames:
        scanned = pd.concat(frames, ignore_index=True)
        text = [
            c
            for c in scanned.columns
            if c in ("group_values", "description")
            or (c.startswith(anomalies.VALUE_PREFIX) and pd.api.types.is_string_dtype(scanned[c].dtype))
        ]
        for col, kinds in scan_frame(scanned, text).items():
            for kind, n in kinds.items():
                out.leaks[f"{col}/{kind}"] = n
    return out


def _detect(events: pd.DataFrame | None, rule: Anomaly, contract: Contract, now, run_id: str) -> pd.DataFrame:
    if events is None or len(events) == 0:
        return anomalies.empty(contract)
    if rule.window is None:
        return anomalies.row_rows(events, rule, contract, now, run_id)
    return anomalies.window_rows(anomalies.bursts(events, rule), rule, contract, now, run_id)


def _stored(snapshot) -> pd.DataFrame:
    """The window anomalies stored in that table version: rule and extent only."""
    from dq_platform.io.warehouse import from_arrow

    return from_arrow(
        snapshot.to_pyarrow_table(columns=["rule_id", "window_start", "window_end"], filters=[("kind", "=", "window")])
    )


def _window(
    warehouse: Warehouse, contract: Contract, rule: Anomaly, first, last, stored: pd.DataFrame, now, run_id: str
) -> tuple[pd.DataFrame, pd.Timestamp | None, pd.Timestamp | None]:
    """The rule's bursts in the range the file's events can affect, and that range.

    Events are read one window beyond both ends, so every window ending inside the range is counted
    exactly. When the stored anomalies match the published events (every earlier run finished), no
    recomputed burst can straddle an end of the range (anomalies.affected_range). Should one straddle
    anyway (e.g. files published before the rule existed, or a run that stopped between masked and
    anomalies), the table is not what the events say: the whole rule is recomputed (range None).
    """
    size = pd.Timedelta(seconds=rule.window.seconds)
    time_col = rule.window.time_column
    lo, hi = anomalies.affected_range(first, last, rule, stored)
    masked = names.masked(contract.name)
    columns = anomalies.needed_columns(contract)
    events = warehouse.read(
        masked,
        columns=columns,
        filters=[(time_col, ">=", (lo - size).to_pydatetime()), (time_col, "<=", (hi + size).to_pydatetime())],
    )
    found = anomalies.bursts(events, rule, since=lo)
    starts, ends = found["window_start"], found["window_end"]
    if ((starts < lo) | ((starts <= hi) & (ends > hi))).any():
        every = anomalies.bursts(warehouse.read(masked, columns=columns), rule)
        return anomalies.window_rows(every, rule, contract, now, run_id), None, None
    found = found[ends <= hi].reset_index(drop=True)
    return anomalies.window_rows(found, rule, contract, now, run_id), lo, hi


def show_anomalies(warehouse_root: str, contracts: list[Contract], out, limit: int = 8) -> None:
    """The demo's view: every dataset's anomalies, newest windows first (descriptions hold no PII)."""
    wh = Warehouse(root=warehouse_root)
    shown = False
    for contract in contracts:
        if not contract.anomalies or wh.table(table_name(contract)) is None:
            continue
        if not shown:
            print("\n== anomalies (rule-based, over published events; one row per burst or flagged event)", file=out)
            shown = True
        frame = wh.read(table_name(contract), columns=["rule_id", "severity", "window_start", "description"])
        counts = frame["rule_id"].value_counts().to_dict()
        print(
            f"   {table_name(contract)}: " + (", ".join(f"{r} {n}" for r, n in sorted(counts.items())) or "none"),
            file=out,
        )
        for row in frame.sort_values("window_start", ascending=False).head(limit).itertuples():
            print(f"     [{row.severity.upper():<5}] {row.rule_id:<16} {row.description}", file=out)
