"""`<name>_postgres`: a dataset's published rows and anomalies mirrored into PostgreSQL tables.

Declared in the contract (`publish: {postgres: {url_env: DQ_EVENTS_PG_URL}}`); the URL stays in that
variable. Unset, the asset exists but publishes nothing and its step says so.

The asset publishes the masked layer, never `cleaned`, idempotently in one transaction per run;
how (tables, marker row, password scrubbing) is io/postgres.py.
"""

import os

import dagster as dg

from dq_platform import names
from dq_platform.contract import Contract
from dq_platform.io.postgres import publish, table_names
from dq_platform.io.warehouse import Warehouse


def postgres_key(contract: Contract) -> dg.AssetKey:
    return dg.AssetKey(names.postgres(contract.name))


def build_postgres_asset(contract: Contract, masked_key: dg.AssetKey, common: dict) -> dg.AssetsDefinition:
    from dq_platform.defs.anomalies import anomalies_key
    from dq_platform.defs.layers import partitions_def

    target = contract.publish.postgres
    events_table, anomalies_table = table_names(contract)
    deps = [masked_key] + ([anomalies_key(contract)] if contract.anomalies else [])
    tables = events_table + (f" and {anomalies_table}" if contract.anomalies else "")

    @dg.asset(
        key=postgres_key(contract),
        partitions_def=partitions_def(contract.name),
        deps=deps,
        kinds={"postgres"},
        output_required=False,
        description=f"PostgreSQL tables {tables} (when {target.url_env} is set): the file's masked rows "
        f"replaced in one transaction"
        + (", and the anomalies its run recomputed" if contract.anomalies else "")
        + ". Masked, not cleaned: GDPR-safe rows only.",
        metadata={"url_variable": target.url_env, "tables": tables},
        **common,
    )
    def publish_to_postgres(context: dg.AssetExecutionContext, warehouse: Warehouse):
        url = os.environ.get(target.url_env)
        if not url:
            context.log.info(
                f"{target.url_env} is not set: nothing published to PostgreSQL "
                f"(set it to a postgresql:// URL to publish {tables})"
            )
            return
        result = publish(url, contract, warehouse, context.partition_key, context.run_id)
        context.log.info(
            f"published {result.get('rows_published', 0)} row(s) of {context.partition_key} to {result['target']}"
        )
        yield dg.MaterializeResult(metadata=result)

    return publish_to_postgres
