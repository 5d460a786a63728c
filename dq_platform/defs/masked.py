"""`masked_<name>`, silver and GDPR-safe: cleaned with PII masked per the contract.

Write-audit-publish: the step reads cleaned only when its gates passed (or a reviewer approved
the held file), masks, scans the result for PII, and yields its output only when the scan is
clean, so a failure leaves the last good version in place.
"""

import datetime as dt
import time

import dagster as dg

from dq_platform import names
from dq_platform.chunks.passes import mask_pass
from dq_platform.defs.layers import ERROR, WARN, Layers, date_columns, table_schema
from dq_platform.defs.publish import prepare, publish
from dq_platform.defs.resources import MaskingKeyResource
from dq_platform.defs.review import approval_for
from dq_platform.io.staging import chunk_files, discard_run
from dq_platform.io.warehouse import Warehouse
from dq_platform.names import REVIEW_META


def check_specs(layers: Layers) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            names.SOURCE_GATES_CHECK,
            asset=layers.masked,
            blocking=True,
            additional_deps=[layers.cleaned],
            description="Masked data is only published from a cleaned partition whose blocking gates passed.",
        ),
        dg.AssetCheckSpec(
            names.MASKED_PII_CHECK,
            asset=layers.masked,
            blocking=True,
            description="No string column of the masked output holds an email, phone, SSN, card (Luhn), "
            "IBAN (mod-97) or IP address, and no masked value equals a raw PII value.",
        ),
    ]


def unchanged_gold(contract, partition: str, why: str) -> list[dg.AssetCheckEvaluation]:
    """The gold aggregates' leak checks when this file publishes nothing: Dagster would skip them and
    the cards would read "0 / 1 Passed, Skipped" although the published aggregate is unchanged (it is
    only ever written after its own scan passed). Logged by the step that knows why."""
    return [
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey(names.gold(contract.name, agg.name)),
            check_name=names.GOLD_PII_CHECK,
            passed=True,
            severity=dg.AssetCheckSeverity.ERROR,
            description=f"unchanged: {why}, so {partition} added nothing to the aggregate; the published "
            f"version stands (written only after its own scan passed)",
            metadata={"published": False},
        )
        for agg in contract.aggregations
    ]


def build_masked(layers: Layers) -> dg.AssetsDefinition:
    contract, name = layers.contract, layers.name
    masked_key, cleaned_key = layers.masked, layers.cleaned

    @dg.asset(
        key=masked_key,
        partitions_def=layers.partitions,
        deps=[cleaned_key],
        kinds={"delta", "pandas"},
        output_required=False,
        check_specs=check_specs(layers),
        description=f"Silver, GDPR-safe: cleaned {name} with PII masked per the contract "
        f"({', '.join(f'{c.name}: {c.pii.masking.value}' for c in contract.pii_columns) or 'no PII columns'}). "
        f"Written only when its gates pass, so the last good version stays in place.",
        metadata={
            "dagster/column_schema": table_schema(contract, masked=True),
            "dq/date_columns": date_columns(contract, masked=True),
        },
        **layers.common,
    )
    def masked(context: dg.AssetExecutionContext, warehouse: Warehouse, masking: MaskingKeyResource):
        partition = context.partition_key
        commit = warehouse.last_commit(cleaned_key.path[-1], partition) or {}
        gate_status = commit.get("dq_gates", "missing")
        counts = layers.stored_rows(warehouse, partition)
        reconciled = counts[0] == counts[1] + counts[2]
        approval = (
            approval_for(context.instance, name, partition, int(commit["version"]))
            if gate_status == names.HELD
            else None
        )
        source_ok = (gate_status == names.PASSED or approval is not None) and reconciled
        where = (
            f"cleaned partition {partition}: gates {gate_status} (version {commit.get('version', '-')}, "
            f"run {commit.get('dagster_run_id', '-')}); raw/cleaned/quarantine rows {'/'.join(map(str, counts))}"
        )
        meta = {"cleaned_version": commit.get("version", -1), "cleaned_gates": gate_status}
        if approval is not None:
            where += f"; approved by {approval.reviewer} (review run {approval.run_id})"
            meta.update({REVIEW_META: "approved", "review_run_id": approval.run_id})
        if gate_status in (names.HELD, names.REJECTED) and approval is None and reconciled:
            # Waiting for (or refused by) a reviewer is not a failure of this run: nothing is published,
            # the human_review_not_pending check carries the alert.
            state = "required" if gate_status == names.HELD else "rejected"
            yield dg.AssetCheckResult(
                asset_key=masked_key,
                check_name=names.SOURCE_GATES_CHECK,
                passed=False,
                severity=WARN,
                description=(
                    "held for human review: not published until a reviewer approves it; "
                    if state == "required"
                    else "rejected in review: never published; "
                )
                + where,
                metadata={**meta, REVIEW_META: state},
            )
            yield dg.AssetCheckResult(
                asset_key=masked_key,
                check_name=names.MASKED_PII_CHECK,
                passed=True,
                description="nothing published, so nothing to scan",
                metadata={REVIEW_META: state},
            )
            for ev in unchanged_gold(
                contract, partition, f"the file is {'held for' if state == 'required' else 'rejected in'} review"
            ):
                context.log_event(ev)
            return
        source_check = dg.AssetCheckResult(
            asset_key=masked_key,
            check_name=names.SOURCE_GATES_CHECK,
            passed=source_ok,
            severity=ERROR,
            description=where,
            metadata=meta,
        )
        if not source_ok:
            yield source_check
            # Nothing is written, so nothing can leak: a failed leak gate here would page CRITICAL for nothing.
            yield dg.AssetCheckResult(
                asset_key=masked_key,
                check_name=names.MASKED_PII_CHECK,
                passed=True,
                description="nothing published, so nothing to scan (source partition did not pass its gates)",
                metadata={"values_flagged": 0, "published": False},
            )
            for ev in unchanged_gold(contract, partition, "the source partition did not pass its gates"):
                context.log_event(ev)
            return
        key = masking.resolve()
        if key.is_dev:
            context.log.warning(
                "DQ_MASKING_KEY is not set: this run masked with the PUBLIC development key; "
                "its masked output is not protected"
            )
        cleaned_table, masked_table = cleaned_key.path[-1], masked_key.path[-1]
        prepare(context, warehouse, [masked_table], partition)
        t0 = time.perf_counter()
        # Age bands as of 1 January: re-running a partition later in the year gives the same output.
        result = mask_pass(
            contract,
            cleaned_files=chunk_files(warehouse.table(cleaned_table), partition),
            cleaned=warehouse.table_uri(cleaned_table),
            masked=warehouse.table_uri(masked_table),
            partition=partition,
            run_id=context.run_id,
            key=key,
            allow_dev_key=masking.allow_dev_key,
            reference_date=dt.date(dt.date.today().year, 1, 1),
            date_columns=date_columns(contract, masked=True),
        )
        t1 = time.perf_counter()
        if result.where.startswith("in-process (") and result.chunks > 1:
            context.log.warning(f"masked in the run's own process, not on the workers: {result.where[12:-1]}")
        findings, echoes = result.findings, result.echoes
        hits = sum(sum(k.values()) for k in findings.values()) + sum(echoes.values())
        leak_meta = {"values_flagged": hits}
        for col, kinds in findings.items():
            for kind, n in kinds.items():
                leak_meta[f"{col}/{kind}"] = n
        for col, n in echoes.items():
            if n:
                leak_meta[f"{col}/raw_value_echo"] = n
        if hits == 0 and result.schema is not None:
            written = publish(
                context, warehouse, masked_table, result.staged, result.schema, partition, {"dq_gates": names.PASSED}
            )
            yield dg.MaterializeResult(
                metadata={
                    "rows_masked": result.rows,
                    names.GATES_KEY: names.PASSED,
                    "pii_columns": ", ".join(c.name for c in contract.pii_columns),
                    "seconds/masking": round(result.seconds.get("masking", 0.0), 4),
                    "seconds/check_pii_leak": round(result.seconds.get("check_pii_leak", 0.0), 4),
                    "seconds/masked_pass": round(t1 - t0, 4),
                    "execution": f"{result.chunks} chunk(s), {result.where}",
                    **written,
                },
            )
        else:
            discard_run(warehouse.table_uri(masked_table), partition, context.run_id)
            context.log.error(f"PII leak gate failed for {partition}: {hits} value(s) flagged; masked not published")
        yield source_check
        yield dg.AssetCheckResult(
            asset_key=masked_key,
            check_name=names.MASKED_PII_CHECK,
            passed=hits == 0,
            severity=ERROR,
            description="no PII pattern found in masked output"
            if hits == 0
            else f"{hits} masked value(s) look like PII (counts per column/kind in metadata); not published",
            metadata=leak_meta,
        )

    return masked
