"""`cleaned_<name>` + `quarantine_<name>`, silver: one step types and judges a file's raw rows.

Every raw row ends in exactly one of the two outputs. The blocking gates (failure rate, pandera,
GX, reconciliation, declared statistics) are evaluated in the same step, and their outcome is
stamped into cleaned's Delta commit (`dq_gates`), so a later masked run (e.g. from the UI)
refuses a partition whose gates failed. Above `failure_rate.review` a file is held for a person.
"""

import json
import time

import dagster as dg
import pandas as pd

from dq_platform import names
from dq_platform.defs import statistical_checks
from dq_platform.defs.layers import ERROR, WARN, Layers, date_columns, md_table, profile_metadata, table_schema
from dq_platform.defs.masked import unchanged_gold
from dq_platform.defs.review import auto_approval, needs_review, review_check
from dq_platform.engine import rules
from dq_platform.engine.profiling import profile_frame
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
        from dq_platform.engine.gx_gate import prewarm, run_gx
        from dq_platform.engine.pandera_gate import run_pandera

        prewarm()  # GX's import overlaps the read and the rules
        partition = context.partition_key
        # Read here rather than as a Dagster input, so the raw frame is freed once the rules ran.
        raw = warehouse.read(layers.raw.path[-1], partition=partition).drop(columns=[rules.PARTITION])
        received = (warehouse.last_commit(layers.raw.path[-1], partition) or {}).get("dq_columns")
        if received:  # columns another file added to raw's schema were not in this file
            raw = raw.drop(columns=[c for c in raw.columns if not c.startswith("_") and c not in json.loads(received)])
        file_columns = [c for c in raw.columns if not c.startswith("_")]
        result = rules.evaluate(raw, contract, published=published_values(layers, warehouse, partition))
        del raw
        quarantine = result.quarantine
        quarantine[rules.RUN_ID] = context.run_id
        rate = result.failure_rate
        level = contract.failure_rate
        stats = statistical_checks.evaluate(contract, result.cleaned, warehouse, cleaned_key, partition)  # + _outliers
        profile = profile_frame(result.cleaned, contract, "cleaned")
        t0 = time.perf_counter()
        pandera_gate = run_pandera(contract, result.cleaned)
        t1 = time.perf_counter()
        gx_gate = run_gx(contract, result.cleaned)
        t2 = time.perf_counter()
        seconds = {
            "seconds/cleaning": result.seconds["cleaning"],
            "seconds/rules": result.seconds["rules"],
            "seconds/check_pandera": t1 - t0,
            "seconds/check_gx": t2 - t1,
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
                rows_failed=len(quarantine),
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
        yield dg.Output(
            result.cleaned,
            output_name=cleaned_key.path[-1],
            metadata={
                "rows_in": result.rows_in,
                "rows_cleaned": len(result.cleaned),
                "rows_quarantined": len(quarantine),
                "failure_rate": round(rate, 6),
                "failing_rules": dg.MetadataValue.md(rule_table),
                names.GATES_KEY: held or (names.PASSED if gates_passed else names.FAILED),
                f"{names.COMMIT_PREFIX}dq_failure_rate": round(rate, 6),
                f"{names.COMMIT_PREFIX}dq_rows_in": result.rows_in,
                **{k: round(v, 4) for k, v in seconds.items()},
                **stats.metadata,
                **profile_metadata(profile),
            },
        )
        yield dg.Output(
            quarantine,
            output_name=quarantine_key.path[-1],
            metadata={
                "rows_quarantined": len(quarantine),
                **{f"rule/{r}": c for r, c in top[:50]},
            },
        )

        severity = ERROR if rate > level.error else WARN
        yield dg.AssetCheckResult(
            asset_key=cleaned_key,
            check_name=names.FAILURE_RATE_CHECK,
            passed=rate <= level.warn,
            severity=severity,
            description=f"{len(quarantine)} of {result.rows_in} rows failed row rules ({rate:.2%}); "
            f"warn above {level.warn:.0%}, "
            + (f"review above {level.review:.0%}, " if level.review is not None else "")
            + f"error above {level.error:.0%}."
            + (" Held for human review." if held else ""),
            metadata={
                "failure_rate": round(rate, 6),
                "rows_failed": len(quarantine),
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
                        f"{len(quarantine)} of {result.rows_in} rows failed row rules ({rate:.2%})"
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
