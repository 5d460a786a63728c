"""`<name>_<aggregation>`, gold: a declared aggregate over every published masked partition.

Unpartitioned and recomputed whole from masked (or the contract's model table), so a re-run or
a rollback never double counts. The PII gate runs inside the step: the aggregate is written only
when no value in it looks like PII.
"""

import json

import dagster as dg

from dq_platform import names
from dq_platform.contract import Aggregation, Contract, ContractError, joined_types
from dq_platform.defs.layers import ERROR, Layers
from dq_platform.defs.models import ORDER_RETRY, aggregation_deps, read_join_models
from dq_platform.engine import rules
from dq_platform.engine.aggregation import aggregate, read_columns, source_table
from dq_platform.io.warehouse import Warehouse


def build_gold(layers: Layers, agg: Aggregation, catalog: dict) -> dg.AssetsDefinition:
    contract: Contract = layers.contract
    masked_key = layers.masked
    unknown = [j.model for j in agg.join if j.model not in catalog]
    if unknown:  # load_contracts reports this with file:line; a hand-built contract list lands here
        raise ContractError(
            f"{contract.name}: aggregation '{agg.name}' joins model(s) no loaded contract declares: "
            f"{', '.join(unknown)}"
        )
    key = dg.AssetKey(names.gold(contract.name, agg.name))
    check = dg.AssetCheckSpec(
        names.GOLD_PII_CHECK,
        asset=key,
        blocking=True,
        description="No PII pattern in any string column of the aggregate.",
    )
    out_types = {**contract.masked_types(), **joined_types(agg, catalog)}
    columns = [dg.TableColumn(name="period", type="date")] if agg.time_column else []
    columns += [dg.TableColumn(name=g, type=out_types[g]) for g in agg.group_by]
    columns += [
        dg.TableColumn(
            name=m.name,
            type="integer" if m.agg in ("count", "nunique") else "float",
            description=m.description or f"{m.agg}({m.column or '*'})",
        )
        for m in agg.metrics
    ]

    @dg.asset(
        key=key,
        deps=[masked_key, *aggregation_deps(contract, agg)],
        kinds={"delta", "pandas"},
        output_required=False,
        check_specs=[check],
        description=f"Gold: {agg.description or agg.name} Computed over "
        + (
            f"the model table {contract.model.name}."
            if agg.over == "model"
            else f"every published partition of {masked_key.to_user_string()}."
        ),
        metadata={
            "dagster/column_schema": dg.TableSchema(columns=columns),
            "group_by": ", ".join(([f"{agg.time_column} ({agg.grain})"] if agg.time_column else []) + agg.group_by)
            or "-",
        },
        retry_policy=ORDER_RETRY if agg.join else None,
        **layers.common,
    )
    def gold(context: dg.AssetExecutionContext, warehouse: Warehouse):
        from dq_platform.engine.pii import scan_frame

        # masked (or, with `over: model`, the contract's model table): only the columns used, at a
        # pinned version, so the result says what it was computed from (publication order, docs/reliability.md)
        source = source_table(contract, agg)
        versions = warehouse.versions([source, *(j.model for j in agg.join)])
        masked = warehouse.read(source, version=versions[source], columns=read_columns(contract, agg))
        stats: dict = {}
        models = read_join_models(warehouse, agg, catalog, context.log, versions) if agg.join else None
        out = aggregate(masked, agg, models, stats)
        findings = scan_frame(out)
        hits = sum(sum(k.values()) for k in findings.values())
        if hits == 0:
            yield dg.Output(
                out,
                metadata={
                    "groups": len(out),
                    "rows_aggregated": len(masked),
                    names.GATES_KEY: names.PASSED,
                    names.SOURCES_META: json.dumps(versions, sort_keys=True),
                    "partitions_aggregated": int(masked[rules.PARTITION].nunique()),
                    **stats,
                },
            )
        yield dg.AssetCheckResult(
            check_name=names.GOLD_PII_CHECK, passed=hits == 0, severity=ERROR, metadata={"values_flagged": hits}
        )

    return gold
