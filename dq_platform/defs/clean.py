"""`cleaned_<name>` + `quarantine_<name>`, silver: one step types and judges a file's raw rows.

Every raw row ends in exactly one of the two outputs. The blocking gates (failure rate, pandera,
GX, reconciliation, declared statistics) are evaluated in the same step, and their outcome is
stamped into cleaned's Delta commit (`dq_gates`), so a later masked run (e.g. from the UI)
refuses a partition whose gates failed. Above `failure_rate.review` a file is held for a person.
"""

import json

import dagster as dg
import pandas as pd
import pyarrow as pa

from dq_platform import names
from dq_platform.chunks.passes import clean_pass
from dq_platform.chunks.pool import where
from dq_platform.defs import statistical_checks
from dq_platform.defs.layers import ERROR, WARN, Layers, date_columns, md_table, profile_metadata, table_schema
from dq_platform.defs.masked import unchanged_gold
from dq_platform.defs.publish import prepare, publish
from dq_platform.defs.review import auto_approval, needs_review, review_check
from dq_platform.engine import rules
from dq_platform.engine.statistics import OUTLIERS
from dq_platform.io.staging import chunk_files
from dq_platform.io.warehouse import Warehouse
from dq_platform.names import REVIEW_META


def check_specs(layers: Layers) -> list[dg.AssetCheckSpec]:
    contract, cleaned = layers.contract, layers.cleaned
    specs = [
        dg.AssetCheckSpec(
            names.FAILURE_RATE_CHECK,
            asset=cleaned,
            blocking=True,
            description=f"Share of rows failing row rules stays under {contract.failure_rate.error:.0%} "
            f"(warns above {contract.failure_rate.warn:.0%}).",
        ),
        dg.AssetCheckSpec(
            names.PANDERA_CHECK,
            asset=cleaned,
            blocking=True,
            description="The cleaned table satisfies the pandera schema generated from the contract.",
        ),
        dg.AssetCheckSpec(
            names.GX_CHECK,
            asset=cleaned,
            blocking=True,
            description="The cleaned table passes the Great Expectations suite generated from the contract.",
        ),
        dg.AssetCheckSpec(
            names.RECONCILE_CHECK,
            asset=cleaned,
            blocking=True,
            additional_deps=[layers.raw, layers.quarantine],
            description="Stored rows: raw = cleaned + quarantine for the partition (nothing lost or duplicated).",
        ),
        dg.AssetCheckSpec(
            names.FILE_SHAPE_CHECK,
            asset=cleaned,
            blocking=True,
            description="The file holds every column the contract declares "
            + (
                "(a missing one holds the file: `on_missing_column: block`)"
                if contract.on_missing_column == "block"
                else "(a missing one only warns: `on_missing_column: warn`)"
            )
            + " and at least one row (an empty file warns).",
        ),
        *statistical_checks.check_specs(contract, cleaned),
    ]
    if contract.failure_rate.review is not None:
        specs.append(
            dg.AssetCheckSpec(
                names.REVIEW_CHECK,
                asset=cleaned,
                description=f"No file waits for a human decision: a file with more than {contract.failure_rate.review:.0%} "
                f"(and at most {contract.failure_rate.error:.0%}) of rows failing is held until a reviewer "
                f"approves or rejects it (dq_review job, `dq-platform review`).",
            )
        )
    return specs


def published_values(layers: Layers, warehouse: Warehouse, partition: str) -> dict[str, pd.Series]:
    """For `unique: dataset` columns: their values in every other file published so far.

    Published = has a masked partition (its gates passed, or a reviewer approved it); the values
    are read from cleaned (masked may hold tokens), one column-pruned scan of those partitions."""
    dataset_unique = [c.name for c in layers.contract.columns if c.unique == rules.DATASET]
    if not dataset_unique:
        return {}
    others = [p for p, n in warehouse.row_counts(layers.masked.path[-1]).items() if n and p != partition]
    if not others:
        return {}
    frame = warehouse.read(layers.cleaned.path[-1], partition=others, columns=dataset_unique)
    return {c: frame[c].dropna() for c in dataset_unique}


def file_shape_check(contract, cleaned_key: dg.AssetKey, received: list[str], rows_in: int) -> dg.AssetCheckResult:
    """Declared columns missing from the file (ERROR under `on_missing_column: block`, else WARN)
    and an empty file (WARN: nothing to publish, said instead of a silent success)."""
    missing = [c.name for c in contract.columns if c.name not in received]
    if rows_in == 0:
        passed, severity, text = False, WARN, "the file holds no rows (empty, or a header only): nothing to publish"
    elif missing:
        block = contract.on_missing_column == "block"
        passed, severity = False, ERROR if block else WARN
        text = f"the file lacks {len(missing)} declared column(s): {', '.join(missing)}; " + (
            "publication held (`on_missing_column: block`): send the file again with the columns, "
            "or set `on_missing_column: warn` in the contract to publish them empty"
            if block
            else "published with the column(s) empty (`on_missing_column: warn`)"
        )
    else:
        passed, severity, text = True, WARN, f"all {len(contract.columns)} declared columns present, {rows_in} rows"
    return dg.AssetCheckResult(
        asset_key=cleaned_key,
        check_name=names.FILE_SHAPE_CHECK,
        passed=passed,
        severity=severity,
        description=text,
        metadata={"missing_columns": ", ".join(missing) or "-", "rows_in": rows_in},
    )


def build_clean(layers: Layers) -> dg.AssetsDefinition:
    contract, name = layers.contract, layers.name
    cleaned_key, quarantine_key = layers.cleaned, layers.quarantine

    @dg.multi_asset(
        name=f"clean_{name}",
        partitions_def=layers.partitions,
        can_subset=False,
        deps=[layers.raw],
        outs={
            cleaned_key.path[-1]: dg.AssetOut(
                key=cleaned_key,
                kinds={"delta", "pandas"},
                **layers.common,
                description=f"Silver: typed, normalized {name} rows that passed every row rule.",
                metadata={"dagster/column_schema": table_schema(contract), "dq/date_columns": date_columns(contract)},
            ),
            quarantine_key.path[-1]: dg.AssetOut(
                key=quarantine_key,
                kinds={"delta", "pandas"},
                **layers.common,
                description=f"Rejected {name} rows with their original values, every failed rule id and a "
                f"reason, run id and source line. Holds raw values: never previewed in the UI.",
            ),
        },
        check_specs=check_specs(layers),
    )
    def clean(context: dg.AssetExecutionContext, warehouse: Warehouse):
        partition = context.partition_key
        raw_table, cleaned_table, quarantine_table = (k.path[-1] for k in (layers.raw, cleaned_key, quarantine_key))
        raw_dt = warehouse.table(raw_table)
        if raw_dt is None:
            raise FileNotFoundError(f"table '{raw_table}' does not exist yet under {warehouse.root}")
        received = (warehouse.last_commit(raw_table, partition) or {}).get("dq_columns")
        received = json.loads(received) if received else None
        lineage = [f.name for f in pa.schema(raw_dt.schema().to_arrow()) if f.name.startswith("_")]
        scratch = prepare(context, warehouse, [cleaned_table, quarantine_table], partition)
        outcome: dict = {}

        def statistics(values: pd.DataFrame) -> pd.Series | None:
            # outliers and drift over every cleaned value of the file (adds _outliers to `values`)
            outcome["stats"] = statistical_checks.evaluate(contract, values, warehouse, cleaned_key, partition)
            return values[OUTLIERS] if OUTLIERS in values.columns else None

        now = pd.Timestamp.now()
        result = clean_pass(
            contract,
            raw_files=chunk_files(raw_dt, partition),
            raw=warehouse.table_uri(raw_table),
            cleaned=warehouse.table_uri(cleaned_table),
            quarantine=warehouse.table_uri(quarantine_table),
            partition=partition,
            run_id=context.run_id,
            received=received,
            lineage=lineage,
            scratch=scratch,
            published=published_values(layers, warehouse, partition),
            statistics=statistics,
            date_columns=date_columns(contract),
            today=now,
            now=now,
        )
        del raw_dt
        stats = outcome["stats"]
        file_columns = received if received is not None else [c.name for c in contract.columns]
        rate = result.rows_quarantined / result.rows_in if result.rows_in else 0.0
        level = contract.failure_rate
        profile = result.profile
        pandera_gate, gx_gate = result.pandera, result.gx
        seconds = {
            "seconds/cleaning": result.seconds.get("cleaning", 0.0),
            "seconds/rules": result.seconds.get("rules", 0.0),
            "seconds/gates": result.seconds.get("gates", 0.0),
            "seconds/statistics": stats.seconds,
        }
        shape = file_shape_check(contract, cleaned_key, file_columns, result.rows_in)
        shape_ok = shape.passed or shape.severity == WARN
        gates_passed = (
            rate <= level.error and pandera_gate.passed and gx_gate.passed and stats.gates_passed and shape_ok
        )
        # Above failure_rate.review (and within error) the file waits for a human decision.
        held, review_result = (
            (None, None)
            if level.review is None
            else review_check(
                contract,
                partition=partition,
                rate=rate,
                rows_in=result.rows_in,
                rows_failed=result.rows_quarantined,
                auto=auto_approval(contract, context.run.tags) if needs_review(rate, level) else None,
                gates_otherwise_passed=gates_passed,
            )
        )
        review_meta = (
            {}
            if review_result is None or review_result.metadata[REVIEW_META].value in ("not_needed", "rejected_by_gate")
            else {REVIEW_META: review_result.metadata[REVIEW_META].value}
        )

        top = sorted(result.failures.items(), key=lambda kv: -kv[1])
        rule_table = (
            md_table([(r, c, f"{c / result.rows_in:.2%}") for r, c in top[:20]], ("rule", "rows", "share"))
            if top
            else "No rule failed."
        )
        gate_status = held or (names.PASSED if gates_passed else names.FAILED)
        cleaned_meta = {
            "rows_in": result.rows_in,
            "rows_cleaned": result.rows_cleaned,
            "rows_quarantined": result.rows_quarantined,
            "failure_rate": round(rate, 6),
            "failing_rules": dg.MetadataValue.md(rule_table),
            names.GATES_KEY: gate_status,
            f"{names.COMMIT_PREFIX}dq_failure_rate": round(rate, 6),
            f"{names.COMMIT_PREFIX}dq_rows_in": result.rows_in,
            "execution": f"{result.chunks} chunk(s), {where()}",
            **{k: round(v, 4) for k, v in seconds.items()},
            **stats.metadata,
            **profile_metadata(profile),
        }
        # cleaned and quarantine are published whatever the gates say (masked reads the verdict
        # from cleaned's commit); each in one commit, after every chunk was staged
        commit = {"dq_gates": gate_status, "dq_failure_rate": round(rate, 6), "dq_rows_in": result.rows_in}
        cleaned_meta.update(
            publish(context, warehouse, cleaned_table, result.cleaned, result.cleaned_schema, partition, commit)
        )
        quarantine_meta = {
            "rows_quarantined": result.rows_quarantined,
            **{f"rule/{r}": c for r, c in top[:50]},
            **publish(context, warehouse, quarantine_table, result.quarantine, result.quarantine_schema, partition),
        }
        yield dg.MaterializeResult(asset_key=cleaned_key, metadata=cleaned_meta)
        yield dg.MaterializeResult(asset_key=quarantine_key, metadata=quarantine_meta)

        severity = ERROR if rate > level.error else WARN
        yield dg.AssetCheckResult(
            asset_key=cleaned_key,
            check_name=names.FAILURE_RATE_CHECK,
            passed=rate <= level.warn,
            severity=severity,
            description=f"{result.rows_quarantined} of {result.rows_in} rows failed row rules ({rate:.2%}); "
            f"warn above {level.warn:.0%}, "
            + (f"review above {level.review:.0%}, " if level.review is not None else "")
            + f"error above {level.error:.0%}."
            + (" Held for human review." if held else ""),
            metadata={
                "failure_rate": round(rate, 6),
                "rows_failed": result.rows_quarantined,
                "rows_in": result.rows_in,
                "warn_level": level.warn,
                "error_level": level.error,
                **({"review_level": level.review} if level.review is not None else {}),
                "top_failing_rules": dg.MetadataValue.md(rule_table),
                **review_meta,
            },
        )
        yield dg.AssetCheckResult(
            asset_key=cleaned_key,
            check_name=names.PANDERA_CHECK,
            passed=pandera_gate.passed,
            severity=ERROR,
            description=pandera_gate.summary,
            metadata=pandera_gate.to_metadata(),
        )
        yield dg.AssetCheckResult(
            asset_key=cleaned_key,
            check_name=names.GX_CHECK,
            passed=gx_gate.passed,
            severity=ERROR,
            description=gx_gate.summary,
            metadata=gx_gate.to_metadata(),
        )
        yield shape
        if review_result is not None:
            yield review_result
        n_raw, n_clean, n_quar = layers.stored_rows(warehouse, partition)
        yield dg.AssetCheckResult(
            asset_key=cleaned_key,
            check_name=names.RECONCILE_CHECK,
            passed=n_raw == n_clean + n_quar and n_raw == result.rows_in,
            severity=ERROR,
            description=f"stored rows for {partition}: raw {n_raw} = cleaned {n_clean} + quarantine {n_quar}"
            + ("" if n_raw == n_clean + n_quar else f" (difference {n_raw - n_clean - n_quar})"),
            metadata={
                "raw_rows": n_raw,
                "cleaned_rows": n_clean,
                "quarantined_rows": n_quar,
                "rows_read_by_run": result.rows_in,
            },
        )
        yield from stats.check_results
        reconciled = n_raw == n_clean + n_quar and n_raw == result.rows_in
        if not (gates_passed and reconciled):
            # Dagster's own message ("1 blocking asset check failed ...") says neither the numbers nor what
            # to do: the run page and the partition's run show this Failure's description and metadata.
            failed = [
                text
                for ok, text in (
                    (
                        rate <= level.error,
                        f"{result.rows_quarantined} of {result.rows_in} rows failed row rules ({rate:.2%})"
                        f", above the contract's error threshold of {level.error:.0%}",
                    ),
                    (pandera_gate.passed, f"pandera schema: {pandera_gate.summary}"),
                    (gx_gate.passed, f"Great Expectations suite: {gx_gate.summary}"),
                    (stats.gates_passed, "a declared statistical gate failed (see its check)"),
                    (shape_ok, shape.description),
                    (
                        reconciled,
                        f"stored rows do not reconcile: raw {n_raw} != cleaned {n_clean} + quarantine {n_quar}",
                    ),
                )
                if not ok
            ]
            for ev in unchanged_gold(contract, partition, "the file's gates failed"):
                context.log_event(ev)  # not "Skipped": the aggregates are as published before
            raise GatesFailed(contract, partition, rate, failed, top, rows_in=result.rows_in)

    return clean


class GatesFailed(dg.Failure):
    """A file's blocking gates failed: nothing was published. The description says the rate, the
    thresholds and the next step in words; its metadata carries the numbers (the run page shows both)."""

    def __init__(self, contract, partition: str, rate: float, failed: list[str], top: list, rows_in: int):
        level, name = contract.failure_rate, contract.name
        thresholds = (
            f"warn above {level.warn:.0%}, "
            + (f"review above {level.review:.0%}, " if level.review is not None else "")
            + f"error above {level.error:.0%}"
        )
        rules_text = ", ".join(f"{r} ({c} rows)" for r, c in top[:3]) or "none"
        description = (
            f"{name} partition {partition} held by its blocking gates: nothing published "
            f"({names.masked(name)} and gold keep their last good version).\n"
            + "".join(f"- {line}\n" for line in failed)
            + f"Failure rate {rate:.2%} ({thresholds}); top failing rules: {rules_text}.\n"
            f"Next step: read the rejected rows and their reasons in {names.quarantine(name)} (or the run's "
            f"report), fix the source and deliver the corrected file again (new content is a new partition); "
            f"if the threshold itself is wrong, change failure_rate in the {name} contract."
        )
        super().__init__(
            description=description,
            metadata={
                "failure_rate": round(rate, 6),
                "rows_in": rows_in,
                "warn_level": level.warn,
                "error_level": level.error,
                **({"review_level": level.review} if level.review is not None else {}),
                "failed_gates": len(failed),
                "quarantine_table": names.quarantine(name),
                "next_step": "fix the source file and deliver it again, or change failure_rate in the contract",
            },
            allow_retries=False,
        )
