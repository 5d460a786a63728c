"""Dagster assets of the modeling layer: a contract's dimension/fact table and its semantic layer.

Both are unpartitioned and recomputed over every published masked partition, like gold
(gold.py). Their gates run inside the step (write-audit-publish): the table is written only
when its blocking checks pass, so a failure leaves the last good version in place.

- `<model name>` (silver): one row per key, newest `latest_by` wins. Checks: `key_is_unique`
  (blocking) and, for facts, `<column>_references_resolve` per foreign key (WARN unless the
  model says `orphans: error`). A fact depends on the models it references: the UI draws the star.
- `<dataset>_semantic_metrics` + `<dataset>_metric_definitions` (gold): the business metrics,
  long format, and what each one means. Check: `gold_has_no_pii` on each.
"""

import json

import dagster as dg
import pandas as pd

from dq_platform import names
from dq_platform.contract import Contract, ModelEntry, model_catalog
from dq_platform.engine.aggregation import source_table
from dq_platform.engine.modeling import build_model, orphans, read_columns
from dq_platform.engine.rules import PARTITION, SOURCE_LINE
from dq_platform.io.warehouse import Warehouse

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
# A result computed from several tables can find, at publication, that a concurrent run published
# one newer and one older input (io/warehouse.StaleSourcesError): the step runs again on fresh reads.
ORDER_RETRY = dg.RetryPolicy(max_retries=3, delay=0.5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def modeling_assets(
    contract: Contract, masked_key: dg.AssetKey, common: dict, catalog: dict[str, ModelEntry] | None = None
) -> list[dg.AssetsDefinition]:
    """The model and semantic assets a contract declares (none without `model:` / `semantic:`)."""
    catalog = catalog if catalog is not None else model_catalog([contract])
    out = []
    if contract.model is not None:
        out.append(model_asset(contract, masked_key, common, catalog))
    if contract.semantic is not None:
        out.append(semantic_assets(contract, masked_key, common))
    return out


def _schema_column(contract: Contract, name: str, **extra) -> dg.TableColumn:
    col = contract.column(name)
    desc = col.description or ""
    if col.pii:
        desc = (desc + " " if desc else "") + f"[PII: {col.pii.category.value}, masked: {col.pii.masking.value}]"
    return dg.TableColumn(name=name, type=contract.masked_types()[name], description=desc or None, **extra)


def reference_check_name(column: str) -> str:
    return names.reference_check(column)


def model_asset(
    contract: Contract, masked_key: dg.AssetKey, common: dict, catalog: dict[str, ModelEntry]
) -> dg.AssetsDefinition:
    model = contract.model
    key = dg.AssetKey(model.name)
    blocking_refs = model.orphans == "error"
    specs = [
        dg.AssetCheckSpec(
            "key_is_unique",
            asset=key,
            blocking=True,
            description=f"One row per key ({', '.join(model.key)}) after keeping the newest "
            f"version{f' by {model.latest_by}' if model.latest_by else ''}; no null key.",
        )
    ]
    for fk, target in model.references.items():
        specs.append(
            dg.AssetCheckSpec(
                reference_check_name(fk),
                asset=key,
                blocking=blocking_refs,
                additional_deps=[dg.AssetKey(target)],
                description=f"Every non-null {fk} exists in {target} (orphans counted; "
                f"{'ERROR: the fact is not published' if blocking_refs else 'WARN'}).",
            )
        )
    columns = [
        _schema_column(
            contract,
            c,
            constraints=dg.TableColumnConstraints(
                nullable=c not in model.key,
                unique=model.key == [c],
                other=[f"references {model.references[c]}"] if c in model.references else [],
            ),
        )
        for c in model.output_columns
    ]
    columns += [
        dg.TableColumn(PARTITION, "string", description="lineage: the extract (file@sha256) this version came from"),
        dg.TableColumn(SOURCE_LINE, "integer", description="lineage: its line in that file"),
    ]
    types = contract.masked_types()
    grain = f"one row per {', '.join(model.key)}"
    newest = f"; the newest {model.latest_by} wins when extracts repeat a key" if model.latest_by else ""

    @dg.asset(
        key=key,
        deps=[masked_key, *(dg.AssetKey(t) for t in dict.fromkeys(model.references.values()))],
        kinds={"delta", "pandas"},
        output_required=False,
        check_specs=specs,
        description=f"Silver {model.kind} table: {model.description or contract.description.strip()} "
        f"({grain}{newest}). Built from every published partition of {masked_key.to_user_string()}.",
        metadata={
            "dagster/column_schema": dg.TableSchema(columns=columns),
            "dq/date_columns": [c for c in model.output_columns if types[c] == "date"],
            "dq/model_kind": model.kind,
            "dq/model_key": ", ".join(model.key),
        },
        **common,
    )
    def build(context: dg.AssetExecutionContext, warehouse: Warehouse):
        versions = warehouse.versions([masked_key.path[-1]])  # pinned: published in source order
        masked = warehouse.read(masked_key.path[-1], version=versions[masked_key.path[-1]], columns=read_columns(model))
        result = build_model(masked, model)
        partitions = int(masked[PARTITION].nunique()) if PARTITION in masked.columns else 0
        del masked
        key_ok = result.duplicate_keys == 0 and result.null_keys == 0
        ref_results = []
        for fk, target in model.references.items():
            target_key = catalog[target].key[0] if target in catalog else None
            table = warehouse.table(target)
            keys = (
                None
                if table is None or target_key is None
                else warehouse.read(target, columns=[target_key])[target_key]
            )
            n, lost = orphans(result.frame, fk, keys)
            rate = lost / n if n else 0.0
            ref_results.append(
                dg.AssetCheckResult(
                    check_name=reference_check_name(fk),
                    passed=lost == 0,
                    severity=ERROR if blocking_refs else WARN,
                    description=(
                        f"{lost} of {n} non-null {fk} values ({rate:.2%}) have no row in {target}"
                        + ("" if table is not None else f" ({target} is not materialized yet)")
                    ),
                    metadata={
                        "orphans": lost,
                        "orphan_rate": round(rate, 6),
                        "foreign_keys": n,
                        "referenced_rows": 0 if keys is None else len(keys),
                        "referenced_model": target,
                    },
                )
            )
        publish = key_ok and (not blocking_refs or all(r.passed for r in ref_results))
        if publish:
            yield dg.Output(
                result.frame,
                metadata={
                    "rows": len(result.frame),
                    "rows_read": result.rows_in,
                    "rows_superseded": result.superseded,
                    "partitions": partitions,
                    names.GATES_KEY: "passed",
                    names.SOURCES_META: json.dumps(versions),
                },
            )
        else:
            context.log.error(f"{model.name} not published: its blocking checks failed; the last good version stays")
        yield dg.AssetCheckResult(
            check_name="key_is_unique",
            passed=key_ok,
            severity=ERROR,
            description=(
                f"{len(result.frame)} rows, one per key"
                if key_ok
                else f"{result.duplicate_keys} key(s) with more than one row, {result.null_keys} row(s) with a "
                f"null key; not published"
                + ("" if model.latest_by else " (declare latest_by to keep the newest version)")
            ),
            metadata={
                "rows": len(result.frame),
                "duplicate_keys": result.duplicate_keys,
                "null_keys": result.null_keys,
                "rows_superseded": result.superseded,
            },
        )
        yield from ref_results

    return build


# -- semantic layer --------------------------------------------------------------------------------


def _semantic_docs(contract: Contract) -> tuple[str, dg.TableSchema, dg.TableSchema]:
    from dq_platform.engine.semantic import definitions, dimensions

    sem = contract.semantic
    table = definitions(contract)
    lines = [
        f"- {r.name} ({r.label}, {r.unit or 'no unit'}, owner {r.owner}): {r.description} [{r.formula}]"
        for r in table.itertuples(index=False)
    ]
    source = (
        f"the model table {contract.model.name}"
        if sem.over == "model"
        else f"every published partition of masked_{contract.name}"
    )
    description = (
        f"Gold semantic layer of {contract.name}: business metrics declared once in the contract "
        f"and computed from {source}. "
        f"{sem.description.strip()}\nLong format: metric, period (date), grain, "
        f"{''.join(d + ', ' for d in dimensions(sem))}value (float64), unit. Metrics:\n" + "\n".join(lines)
    )
    metric_names = [m.name for m in sem.metrics]
    types = contract.masked_types()
    cols = [
        dg.TableColumn(
            "metric",
            "string",
            description="; ".join(lines),
            constraints=dg.TableColumnConstraints(nullable=False, other=["in {" + ", ".join(metric_names) + "}"]),
        ),
        dg.TableColumn("period", "date", description=f"start of the day/week (Monday)/month/year of {sem.time_column}"),
        dg.TableColumn("grain", "string", description="day, week, month or year: the period's length"),
    ]
    for d in dimensions(sem):
        users = ", ".join(m.name for m in sem.metrics if d in m.dimensions)
        cols.append(dg.TableColumn(d, types[d], description=f"dimension of {users}; null for the other metrics"))
    cols += [
        dg.TableColumn(
            "value", "float", description="the metric's value; null where undefined (e.g. a ratio over nothing)"
        ),
        dg.TableColumn("unit", "string", description="unit of value (currency: the row's currency)"),
    ]
    def_cols = dg.TableSchema(
        columns=[
            dg.TableColumn(c, "string")
            for c in ("name", "label", "description", "owner", "formula", "grain", "dimensions", "unit")
        ]
    )
    return description, dg.TableSchema(columns=cols), def_cols


def semantic_assets(contract: Contract, masked_key: dg.AssetKey, common: dict) -> dg.AssetsDefinition:
    from dq_platform.engine import semantic

    metrics_key = dg.AssetKey(names.semantic_metrics(contract.name))
    defs_key = dg.AssetKey(names.metric_definitions(contract.name))
    description, schema, def_schema = _semantic_docs(contract)
    specs = [
        dg.AssetCheckSpec(
            "gold_has_no_pii", asset=k, blocking=True, description="No PII pattern in any string column of the table."
        )
        for k in (metrics_key, defs_key)
    ]

    @dg.multi_asset(
        name=f"semantic_{contract.name}",
        deps=[masked_key, *aggregation_deps(contract, contract.semantic)],
        can_subset=False,
        check_specs=specs,
        outs={
            metrics_key.path[-1]: dg.AssetOut(
                key=metrics_key,
                kinds={"delta", "pandas"},
                is_required=False,
                description=description,
                metadata={"dagster/column_schema": schema, "dq/date_columns": ["period"]},
                **common,
            ),
            defs_key.path[-1]: dg.AssetOut(
                key=defs_key,
                kinds={"delta", "pandas"},
                is_required=False,
                description=f"Definitions of the {contract.name} semantic metrics: one row per metric with its "
                f"label, business description, owner, formula, grain, dimensions and unit "
                f"(the documentation of {metrics_key.to_user_string()}, as a table BI tools can join).",
                metadata={"dagster/column_schema": def_schema},
                **common,
            ),
        },
    )
    def semantic_layer(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from dq_platform.engine.pii import scan_frame

        source = source_table(contract, contract.semantic)
        versions = warehouse.versions([source])  # pinned: published in source order
        masked = warehouse.read(source, version=versions[source], columns=semantic.read_columns(contract))
        metrics = semantic.compute_metrics(masked, contract)
        defs = semantic.definitions(contract)
        # Owners are contact addresses by design (email or team:); every other definition field is scanned.
        for key, frame, scanned in ((metrics_key, metrics, metrics), (defs_key, defs, defs.drop(columns=["owner"]))):
            hits = sum(sum(k.values()) for k in scan_frame(scanned).values())
            if hits == 0:
                meta = {
                    "rows": len(frame),
                    names.GATES_KEY: "passed",
                    names.SOURCES_META: json.dumps(versions),
                    "definitions": dg.MetadataValue.md(semantic.definitions_markdown(contract)),
                }
                if key == metrics_key:
                    meta.update(
                        {
                            "metrics": len(contract.semantic.metrics),
                            "rows_read": len(masked),
                            "partitions": int(masked[PARTITION].nunique()) if PARTITION in masked else 0,
                        }
                    )
                yield dg.Output(frame, output_name=key.path[-1], metadata=meta)
            yield dg.AssetCheckResult(
                asset_key=key,
                check_name="gold_has_no_pii",
                passed=hits == 0,
                severity=ERROR,
                metadata={"values_flagged": hits},
            )

    return semantic_layer


def aggregation_deps(contract: Contract, section) -> list[dg.AssetKey]:
    """A gold aggregation depends on the models it joins, and on its own model with `over: model`."""
    own = [contract.model.name] if section.over == "model" else []
    return [dg.AssetKey(m) for m in dict.fromkeys([*own, *(j.model for j in getattr(section, "join", []))])]


def read_join_models(
    warehouse: Warehouse, agg, catalog: dict[str, ModelEntry], log, versions: dict[str, int] | None = None
) -> dict[str, tuple[list[str], pd.DataFrame]]:
    """The models an aggregation joins, with just their key and the joined columns.

    A model not materialized yet joins as empty (its columns null), with a warning: the gold table
    is correct for what is known, and the model's next run does not wait on this dataset.
    """
    out = {}
    for j in agg.join:
        entry = catalog[j.model]
        cols = list(dict.fromkeys([*entry.key, *(c for jj in agg.join if jj.model == j.model for c in jj.columns)]))
        version = (versions or {}).get(j.model)
        if version == -1 or (version is None and warehouse.table(j.model) is None):
            log.warning(f"{j.model} is not materialized yet: its columns join as nulls")
            continue
        out[j.model] = (entry.key, warehouse.read(j.model, version=version, columns=cols))
    return out
