"""Asset factory: one contract in, one governed asset graph out.

raw_<name> (bronze, one partition per source file)
  -> cleaned_<name> + quarantine_<name> (silver; gates: failure rate, pandera, GX, reconciliation)
  -> masked_<name> (silver, GDPR-safe; gates: source passed its gates, no PII in output)
  -> <name>_<aggregation> (gold, over every published masked partition)

Dagster writes an asset before separate checks run, so the gates that protect publication are
evaluated inside the publishing step (write-audit-publish): masked and gold yield their output
only when their gates pass, so a failure leaves the last good version in place. The gate
outcome of cleaned is stamped into its Delta commit, so a later masked run (e.g. from the UI)
refuses a partition whose gates failed.
"""


import datetime as dt
import json
import os
import time
import warnings

import dagster as dg
import pandas as pd

from dq_platform.io import landing, readers
from dq_platform.engine import rules
from dq_platform.defs import statistical_checks
from dq_platform.contract import ColumnType, Contract
from dq_platform.engine.aggregation import aggregate
from dq_platform.engine.modeling import joined_types, model_catalog
from dq_platform.defs.execution import FILE_EXECUTOR
from dq_platform.engine.aggregation import read_columns, source_table
from dq_platform.defs.models import aggregation_deps, modeling_assets, read_join_models
from dq_platform.defs.review import HELD, REJECTED, REVIEW_CHECK, REVIEW_META, approval_for, auto_approval, needs_review, publish_job_name, review_check
from dq_platform.defs.history_checks import build_history_checks
from dq_platform.engine.profiling import profile_frame, profile_metadata
from dq_platform.io.warehouse import Warehouse
from dq_platform.names import SOURCE_URI_TAG

GATES_KEY = "dq/commit/dq_gates"

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def partitions_def(contract: Contract) -> dg.DynamicPartitionsDefinition:
    return dg.DynamicPartitionsDefinition(name=f"{contract.name}_files")


def _table_schema(contract: Contract, masked: bool = False, raw: bool = False) -> dg.TableSchema:
    types = contract.masked_types() if masked else {c.name: c.type.value for c in contract.columns}
    cols = []
    for c in contract.columns:
        constraints = []
        if not raw:
            if c.min is not None and not (masked and c.pii):
                constraints.append(f">= {c.min}")
            if c.max is not None and not (masked and c.pii):
                constraints.append(f"<= {c.max}")
            if c.allowed_values:
                constraints.append("in {" + ", ".join(map(str, c.allowed_values)) + "}")
            if c.format and not (masked and c.pii):
                constraints.append(f"format {c.format.value}")
        desc = c.description
        if c.pii:
            desc = (desc + " " if desc else "") + f"[PII: {c.pii.category.value}" + (
                f", masked: {c.pii.masking.value}]" if masked else "]")
        cols.append(dg.TableColumn(
            name=c.name, type="string" if raw else types[c.name], description=desc or None,
            constraints=dg.TableColumnConstraints(nullable=not c.required, unique=bool(c.unique) and not raw,
                                                  other=constraints)))
    return dg.TableSchema(columns=cols)


def date_columns(contract: Contract, masked: bool = False) -> list[str]:
    types = contract.masked_types() if masked else {c.name: c.type.value for c in contract.columns}
    return [n for n, t in types.items() if t == ColumnType.date.value]


def _common(contract: Contract) -> dict:
    return dict(group_name=contract.asset_group, owners=[contract.owner],
                tags={k: v for k, v in contract.tags.items()})


def _md_table(rows: list[tuple], header: tuple) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def build_dataset(contract: Contract, catalog: dict | None = None) -> dg.Definitions:
    """Assets, checks and the per-dataset job for one contract.

    `catalog`: every contract's model by name (dimensional.model_catalog), for joins and references.
    """
    catalog = catalog if catalog is not None else model_catalog([contract])
    name = contract.name
    parts = partitions_def(contract)
    common = _common(contract)
    raw_key, cleaned_key = dg.AssetKey(f"raw_{name}"), dg.AssetKey(f"cleaned_{name}")
    quarantine_key, masked_key = dg.AssetKey(f"quarantine_{name}"), dg.AssetKey(f"masked_{name}")

    def stored_rows(warehouse: Warehouse, partition: str) -> tuple[int, int, int]:
        """Rows of the partition as stored (Delta log statistics): raw, cleaned, quarantine."""
        return tuple(warehouse.row_counts(k.path[-1]).get(partition, 0)
                     for k in (raw_key, cleaned_key, quarantine_key))

    dataset_unique = [c.name for c in contract.columns if c.unique == rules.DATASET]

    def published_values(warehouse: Warehouse, partition: str) -> dict[str, pd.Series]:
        """For `unique: dataset` columns: their values in every other file published so far.

        Published = has a masked partition (its gates passed, or a reviewer approved it); the values
        are read from cleaned (masked may hold tokens), one column-pruned scan of those partitions."""
        if not dataset_unique:
            return {}
        others = [p for p, n in warehouse.row_counts(masked_key.path[-1]).items() if n and p != partition]
        if not others:
            return {}
        frame = warehouse.read(cleaned_key.path[-1], partition=others, columns=dataset_unique)
        return {c: frame[c].dropna() for c in dataset_unique}

    # -- bronze --------------------------------------------------------------------------
    @dg.asset(
        key=raw_key, partitions_def=parts, kinds={"delta", "pandas", contract.source.format},
        # a pull source's API/table is an external asset upstream of raw (extract.py), for lineage
        deps=[dg.AssetKey(f"source_{name}")] if contract.source.kind != "file" else None,
        description=f"Bronze: rows of each {name} source file exactly as received (text), with "
                    f"source file, line and sha256. {contract.description}",
        metadata={"dagster/column_schema": _table_schema(contract, raw=True), "dq/contract": name},
        **common,
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.Output[pd.DataFrame]:
        key = context.partition_key
        file_name, sha16 = landing.split_partition_key(key)
        tagged = context.run.tags.get(SOURCE_URI_TAG)
        if tagged:
            source = landing.describe(name, tagged)
            if source.sha256[:16] != sha16:
                raise landing.SourceFileError(
                    f"{tagged}: content changed since it was registered as partition '{key}' "
                    f"(sha256 now starts {source.sha256[:16]}); register the new content as its own partition")
            uri = landing.archive(source, warehouse.root)
        else:
            uri = landing.find_archived(warehouse.root, name, key)
        t0 = time.perf_counter()
        # the archive is content-addressed: its folder name is the file's sha256
        frame = readers.read_source(uri, contract, display_name=file_name, checksum=uri.rsplit("/", 2)[-2])
        read_s = time.perf_counter() - t0
        profile = profile_frame(frame, contract, "raw")
        parse_errors = int(frame[rules.PARSE_ERROR].notna().sum())
        missing = [c.name for c in contract.columns if c.name not in frame.columns]
        extra = [c for c in frame.columns if not c.startswith("_") and c not in {x.name for x in contract.columns}]
        if parse_errors:
            context.log.warning(f"{file_name}: {parse_errors} line(s) could not be parsed; they go to quarantine")
        if missing or extra:
            context.log.warning(f"{file_name}: missing columns {missing or '-'}; extra columns {extra or '-'}")
        return dg.Output(frame, metadata={
            "source_file": file_name, "source_uri": tagged or uri, "archived_uri": uri,
            "sha256": frame[rules.CHECKSUM].iloc[0] if len(frame) else "",
            "rows_in": len(frame), "parse_errors": parse_errors,
            "missing_columns": ", ".join(missing) or "-", "extra_columns": ", ".join(extra) or "-",
            "seconds/read": round(read_s, 4), **profile_metadata(profile),
            # the file's own columns travel in the Delta commit: the table's merged schema has them all
            "dq/commit/dq_columns": json.dumps([c for c in frame.columns if not c.startswith("_")]),
        })

    # -- silver: cleaned + quarantine ----------------------------------------------------
    clean_checks = [
        dg.AssetCheckSpec("failure_rate_within_threshold", asset=cleaned_key, blocking=True,
                          description=f"Share of rows failing row rules stays under {contract.failure_rate.error:.0%} "
                                      f"(warns above {contract.failure_rate.warn:.0%})."),
        dg.AssetCheckSpec("cleaned_matches_pandera_schema", asset=cleaned_key, blocking=True,
                          description="The cleaned table satisfies the pandera schema generated from the contract."),
        dg.AssetCheckSpec("cleaned_passes_gx_suite", asset=cleaned_key, blocking=True,
                          description="The cleaned table passes the Great Expectations suite generated from the contract."),
        dg.AssetCheckSpec("raw_rows_reconcile_with_cleaned_and_quarantine", asset=cleaned_key, blocking=True,
                          additional_deps=[raw_key, quarantine_key],
                          description="Stored rows: raw = cleaned + quarantine for the partition (nothing lost or duplicated)."),
        *statistical_checks.check_specs(contract, cleaned_key),
    ]
    if contract.failure_rate.review is not None:
        clean_checks.append(dg.AssetCheckSpec(
            REVIEW_CHECK, asset=cleaned_key,
            description=f"No file waits for a human decision: a file with more than {contract.failure_rate.review:.0%} "
                        f"(and at most {contract.failure_rate.error:.0%}) of rows failing is held until a reviewer "
                        f"approves or rejects it (dq_review job, `dq-platform review`)."))

    @dg.multi_asset(
        name=f"clean_{name}", partitions_def=parts, can_subset=False, deps=[raw_key],
        outs={
            cleaned_key.path[-1]: dg.AssetOut(
                key=cleaned_key, kinds={"delta", "pandas"}, **common,
                description=f"Silver: typed, normalized {name} rows that passed every row rule.",
                metadata={"dagster/column_schema": _table_schema(contract), "dq/date_columns": date_columns(contract)}),
            quarantine_key.path[-1]: dg.AssetOut(
                key=quarantine_key, kinds={"delta", "pandas"}, **common,
                description=f"Rejected {name} rows with their original values, every failed rule id and a "
                            f"reason, run id and source line. Holds raw values: never previewed in the UI."),
        },
        check_specs=clean_checks,
    )
    def clean(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from dq_platform.engine.validation import prewarm, run_gx, run_pandera

        prewarm()  # GX's import overlaps the read and the rules
        partition = context.partition_key
        # Read here rather than as a Dagster input, so the raw frame is freed once the rules ran.
        raw = warehouse.read(raw_key.path[-1], partition=partition).drop(columns=[rules.PARTITION])
        received = (warehouse.last_commit(raw_key.path[-1], partition) or {}).get("dq_columns")
        if received:  # columns another file added to raw's schema were not in this file
            raw = raw.drop(columns=[c for c in raw.columns if not c.startswith("_") and c not in json.loads(received)])
        result = rules.evaluate(raw, contract, published=published_values(warehouse, partition))
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
        seconds = {"seconds/cleaning": result.seconds["cleaning"], "seconds/rules": result.seconds["rules"],
                   "seconds/check_pandera": t1 - t0, "seconds/check_gx": t2 - t1, "seconds/statistics": stats.seconds}
        gates_passed = rate <= level.error and pandera_gate.passed and gx_gate.passed and stats.gates_passed
        # Above failure_rate.review (and within error) the file waits for a human decision.
        held, review_result = (None, None) if level.review is None else review_check(
            contract, partition=partition, rate=rate, rows_in=result.rows_in, rows_failed=len(quarantine),
            auto=auto_approval(contract, context.run.tags) if needs_review(rate, level) else None,
            gates_otherwise_passed=gates_passed)
        review_meta = {} if review_result is None or review_result.metadata[REVIEW_META].value in (
            "not_needed", "rejected_by_gate") else {REVIEW_META: review_result.metadata[REVIEW_META].value}

        top = sorted(result.failures.items(), key=lambda kv: -kv[1])
        rule_table = _md_table([(r, c, f"{c / result.rows_in:.2%}") for r, c in top[:20]], ("rule", "rows", "share")) \
            if top else "No rule failed."
        yield dg.Output(result.cleaned, output_name=cleaned_key.path[-1], metadata={
            "rows_in": result.rows_in, "rows_cleaned": len(result.cleaned), "rows_quarantined": len(quarantine),
            "failure_rate": round(rate, 6), "failing_rules": dg.MetadataValue.md(rule_table),
            GATES_KEY: held or ("passed" if gates_passed else "failed"),
            "dq/commit/dq_failure_rate": round(rate, 6), "dq/commit/dq_rows_in": result.rows_in,
            **{k: round(v, 4) for k, v in seconds.items()}, **stats.metadata, **profile_metadata(profile),
        })
        yield dg.Output(quarantine, output_name=quarantine_key.path[-1], metadata={
            "rows_quarantined": len(quarantine),
            **{f"rule/{r}": c for r, c in top[:50]},
        })

        severity = ERROR if rate > level.error else WARN
        yield dg.AssetCheckResult(
            asset_key=cleaned_key, check_name="failure_rate_within_threshold",
            passed=rate <= level.warn, severity=severity,
            description=f"{len(quarantine)} of {result.rows_in} rows failed row rules ({rate:.2%}); "
                        f"warn above {level.warn:.0%}, "
                        + (f"review above {level.review:.0%}, " if level.review is not None else "")
                        + f"error above {level.error:.0%}."
                        + (" Held for human review." if held else ""),
            metadata={"failure_rate": round(rate, 6), "rows_failed": len(quarantine), "rows_in": result.rows_in,
                      "warn_level": level.warn, "error_level": level.error,
                      **({"review_level": level.review} if level.review is not None else {}),
                      "top_failing_rules": dg.MetadataValue.md(rule_table), **review_meta})
        yield dg.AssetCheckResult(asset_key=cleaned_key, check_name="cleaned_matches_pandera_schema",
                                  passed=pandera_gate.passed, severity=ERROR, description=pandera_gate.summary,
                                  metadata=pandera_gate.to_metadata())
        yield dg.AssetCheckResult(asset_key=cleaned_key, check_name="cleaned_passes_gx_suite",
                                  passed=gx_gate.passed, severity=ERROR, description=gx_gate.summary,
                                  metadata=gx_gate.to_metadata())
        if review_result is not None:
            yield review_result
        n_raw, n_clean, n_quar = stored_rows(warehouse, partition)
        yield dg.AssetCheckResult(
            asset_key=cleaned_key, check_name="raw_rows_reconcile_with_cleaned_and_quarantine",
            passed=n_raw == n_clean + n_quar and n_raw == result.rows_in, severity=ERROR,
            description=f"stored rows for {partition}: raw {n_raw} = cleaned {n_clean} + quarantine {n_quar}"
                        + ("" if n_raw == n_clean + n_quar else f" (difference {n_raw - n_clean - n_quar})"),
            metadata={"raw_rows": n_raw, "cleaned_rows": n_clean, "quarantined_rows": n_quar,
                      "rows_read_by_run": result.rows_in})
        yield from stats.check_results

    # -- silver, GDPR-safe ---------------------------------------------------------------
    masked_checks = [
        dg.AssetCheckSpec("masked_source_passed_gates", asset=masked_key, blocking=True, additional_deps=[cleaned_key],
                          description="Masked data is only published from a cleaned partition whose blocking gates passed."),
        dg.AssetCheckSpec("masked_has_no_pii", asset=masked_key, blocking=True,
                          description="No string column of the masked output holds an email, phone, SSN, card (Luhn), "
                                      "IBAN (mod-97) or IP address, and no masked value equals a raw PII value."),
    ]

    @dg.asset(
        key=masked_key, partitions_def=parts, deps=[cleaned_key], kinds={"delta", "pandas"},
        output_required=False, check_specs=masked_checks,
        description=f"Silver, GDPR-safe: cleaned {name} with PII masked per the contract "
                    f"({', '.join(f'{c.name}: {c.pii.masking.value}' for c in contract.pii_columns) or 'no PII columns'}). "
                    f"Written only when its gates pass, so the last good version stays in place.",
        metadata={"dagster/column_schema": _table_schema(contract, masked=True),
                  "dq/date_columns": date_columns(contract, masked=True)},
        **common,
    )
    def masked(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from dq_platform.engine.masking import mask_frame, resolve_masking_key
        from dq_platform.engine.pii import raw_value_echo, scan_frame

        partition = context.partition_key
        commit = warehouse.last_commit(cleaned_key.path[-1], partition) or {}
        gate_status = commit.get("dq_gates", "missing")
        counts = stored_rows(warehouse, partition)
        reconciled = counts[0] == counts[1] + counts[2]
        approval = approval_for(context.instance, name, partition, int(commit["version"])) \
            if gate_status == HELD else None
        source_ok = (gate_status == "passed" or approval is not None) and reconciled
        where = (f"cleaned partition {partition}: gates {gate_status} (version {commit.get('version', '-')}, "
                 f"run {commit.get('dagster_run_id', '-')}); raw/cleaned/quarantine rows {'/'.join(map(str, counts))}")
        meta = {"cleaned_version": commit.get("version", -1), "cleaned_gates": gate_status}
        if approval is not None:
            where += f"; approved by {approval.reviewer} (review run {approval.run_id})"
            meta.update({REVIEW_META: "approved", "review_run_id": approval.run_id})
        if gate_status in (HELD, REJECTED) and approval is None and reconciled:
            # Waiting for (or refused by) a reviewer is not a failure of this run: nothing is published,
            # the human_review_not_pending check carries the alert.
            state = "required" if gate_status == HELD else "rejected"
            yield dg.AssetCheckResult(
                asset_key=masked_key, check_name="masked_source_passed_gates", passed=False, severity=WARN,
                description=("held for human review: not published until a reviewer approves it; " if state == "required"
                             else "rejected in review: never published; ") + where,
                metadata={**meta, REVIEW_META: state})
            yield dg.AssetCheckResult(asset_key=masked_key, check_name="masked_has_no_pii", passed=True,
                                      description="nothing published, so nothing to scan", metadata={REVIEW_META: state})
            return
        source_check = dg.AssetCheckResult(
            asset_key=masked_key, check_name="masked_source_passed_gates", passed=source_ok, severity=ERROR,
            description=where, metadata=meta)
        if not source_ok:
            yield source_check
            yield dg.AssetCheckResult(asset_key=masked_key, check_name="masked_has_no_pii", passed=False,
                                      severity=ERROR, description="not evaluated: source partition did not pass its gates")
            return
        cleaned = warehouse.read(cleaned_key.path[-1], partition=partition).drop(columns=[rules.PARTITION])
        key = resolve_masking_key(allow_dev_key=os.environ.get("DQ_ALLOW_DEV_MASKING_KEY") == "1")
        if key.is_dev:
            context.log.warning("DQ_MASKING_KEY is not set: this run masked with the PUBLIC development key; "
                                "its masked output is not protected")
        t0 = time.perf_counter()
        # Age bands as of 1 January: re-running a partition later in the year gives the same output.
        out = mask_frame(cleaned, contract, key, reference_date=dt.date(dt.date.today().year, 1, 1))
        t1 = time.perf_counter()
        out = out.drop(columns=[c for c in (rules.SOURCE_FILE, rules.CHECKSUM) if c in out.columns])
        findings = scan_frame(out.drop(columns=[c for c in out.columns if c.startswith("_")]))
        echoes = raw_value_echo(out, cleaned, contract)
        del cleaned  # not needed for the write: free it first
        hits = sum(sum(k.values()) for k in findings.values()) + sum(echoes.values())
        t2 = time.perf_counter()
        leak_meta = {"values_flagged": hits}
        for col, kinds in findings.items():
            for kind, n in kinds.items():
                leak_meta[f"{col}/{kind}"] = n
        for col, n in echoes.items():
            if n:
                leak_meta[f"{col}/raw_value_echo"] = n
        if hits == 0:
            yield dg.Output(out, metadata={"rows_masked": len(out), GATES_KEY: "passed",
                                           "pii_columns": ", ".join(c.name for c in contract.pii_columns),
                                           "seconds/masking": round(t1 - t0, 4),
                                           "seconds/check_pii_leak": round(t2 - t1, 4)})
        else:
            context.log.error(f"PII leak gate failed for {partition}: {hits} value(s) flagged; masked not published")
        yield source_check
        yield dg.AssetCheckResult(
            asset_key=masked_key, check_name="masked_has_no_pii", passed=hits == 0, severity=ERROR,
            description="no PII pattern found in masked output" if hits == 0 else
            f"{hits} masked value(s) look like PII (counts per column/kind in metadata); not published",
            metadata=leak_meta)

    # -- gold ----------------------------------------------------------------------------
    gold_assets = []
    for agg in contract.aggregations:
        gold_assets.append(_gold_asset(contract, agg, masked_key, common, catalog))
    # dimension/fact table and semantic layer, when the contract declares them (model_assets.py)
    gold_assets += modeling_assets(contract, masked_key, common, catalog)
    if contract.anomalies:  # <name>_anomalies: rule-based anomalies over the published events
        from dq_platform.defs.anomalies import build_anomaly_asset

        gold_assets.append(build_anomaly_asset(contract, masked_key, common))
    if contract.publish and contract.publish.postgres:  # <name>_postgres: masked rows (+ anomalies) to PostgreSQL
        from dq_platform.defs.postgres import build_postgres_asset

        gold_assets.append(build_postgres_asset(contract, masked_key, common))

    assets = [raw, clean, masked, *gold_assets]
    with warnings.catch_warnings():  # both builders are Dagster "beta"; chosen on purpose (DESIGN.md)
        warnings.simplefilter("ignore", dg.BetaWarning)
        checks = list(dg.build_column_schema_change_checks(assets=[raw]))
        if contract.row_count and (contract.row_count.min is not None or contract.row_count.max is not None):
            checks += list(dg.build_metadata_bounds_checks(
                assets=[raw], severity=ERROR, metadata_key="dagster/row_count",
                min_value=contract.row_count.min, max_value=contract.row_count.max))
        if contract.freshness is not None:  # the SLA: Dagster's freshness check on the published layer
            checks += list(freshness_checks(contract, masked_key))
    history = build_history_checks(contract, raw_key, cleaned_key)  # anomaly detection: own check steps
    checks += history.checks
    job = dg.define_asset_job(
        f"{name}_pipeline", selection=dg.AssetSelection.assets(*assets) | dg.AssetSelection.checks(*history.checks),
        partitions_def=parts, tags={"dq/dataset": name}, executor_def=FILE_EXECUTOR,
        description=f"raw -> cleaned + quarantine -> masked -> gold for one {name} source file (partition).")
    jobs = [job]
    if contract.failure_rate.review is not None:  # what an approval runs: masked and what depends on it
        jobs.append(dg.define_asset_job(
            publish_job_name(name), partitions_def=parts, tags={"dq/dataset": name, "dq/kind": "publish"},
            selection=dg.AssetSelection.assets(masked_key).downstream() & dg.AssetSelection.assets(*assets),
            executor_def=FILE_EXECUTOR,
            description=f"Publish one reviewed {name} file: masked + gold for a partition a reviewer approved."))
    return dg.Definitions(assets=assets, asset_checks=checks, jobs=[*jobs, *history.jobs], schedules=history.schedules)


def freshness_checks(contract: Contract, key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    from dq_platform.contract import parse_duration

    f = contract.freshness
    with warnings.catch_warnings():  # "superseded" by FreshnessPolicy, whose daemon emits no check evaluation
        warnings.simplefilter("ignore")
        return list(dg.build_last_update_freshness_checks(
            assets=[key], lower_bound_delta=parse_duration(f.max_lag), deadline_cron=f.deadline_cron,
            severity=ERROR if f.severity == "error" else WARN))


def _gold_asset(contract: Contract, agg, masked_key: dg.AssetKey, common: dict, catalog: dict):
    from dq_platform.contract import ContractError

    unknown = [j.model for j in agg.join if j.model not in catalog]
    if unknown:  # load_contracts reports this with file:line; a hand-built contract list lands here
        raise ContractError(f"{contract.name}: aggregation '{agg.name}' joins model(s) no loaded contract declares: "
                            f"{', '.join(unknown)}")
    key = dg.AssetKey(f"{contract.name}_{agg.name}")
    check = dg.AssetCheckSpec("gold_has_no_pii", asset=key, blocking=True,
                              description="No PII pattern in any string column of the aggregate.")
    out_types = {**contract.masked_types(), **joined_types(agg, catalog)}
    columns = [dg.TableColumn(name="period", type="date")] if agg.time_column else []
    columns += [dg.TableColumn(name=g, type=out_types[g]) for g in agg.group_by]
    columns += [dg.TableColumn(name=m.name, type="integer" if m.agg in ("count", "nunique") else "float",
                               description=m.description or f"{m.agg}({m.column or '*'})") for m in agg.metrics]

    @dg.asset(
        key=key, deps=[masked_key, *aggregation_deps(contract, agg)], kinds={"delta", "pandas"}, output_required=False,
        check_specs=[check],
        description=f"Gold: {agg.description or agg.name} Computed over "
                    + (f"the model table {contract.model.name}." if agg.over == "model" else
                       f"every published partition of {masked_key.to_user_string()}."),
        metadata={"dagster/column_schema": dg.TableSchema(columns=columns),
                  "group_by": ", ".join(([f"{agg.time_column} ({agg.grain})"] if agg.time_column else []) + agg.group_by) or "-"},
        **common,
    )
    def gold(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from dq_platform.engine.pii import scan_frame

        # masked (or, with `over: model`, the contract's model table): only the columns used
        masked = warehouse.read(source_table(contract, agg), columns=read_columns(contract, agg))
        stats: dict = {}
        models = read_join_models(warehouse, agg, catalog, context.log) if agg.join else None
        out = aggregate(masked, agg, models, stats)
        findings = scan_frame(out)
        hits = sum(sum(k.values()) for k in findings.values())
        if hits == 0:
            yield dg.Output(out, metadata={"groups": len(out), "rows_aggregated": len(masked), GATES_KEY: "passed",
                                           "partitions_aggregated": int(masked[rules.PARTITION].nunique()), **stats})
        yield dg.AssetCheckResult(check_name="gold_has_no_pii", passed=hits == 0, severity=ERROR,
                                  metadata={"values_flagged": hits})

    return gold
