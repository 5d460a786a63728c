"""Dagster's own check builders applied to a dataset: schema changes, row-count bounds, freshness.

The gates that protect publication run inside the publishing steps (clean.py, masked.py,
gold.py); these are separate checks on what was stored. Both builders are Dagster "beta" and chosen
on purpose (docs/architecture.md, "Known facts about Dagster").
"""

import warnings

import dagster as dg

from dq_platform.contract import Contract, parse_duration
from dq_platform.defs.layers import ERROR, WARN, Layers


def stored_checks(layers: Layers, raw: dg.AssetsDefinition) -> list[dg.AssetChecksDefinition]:
    """Column schema changes and row-count bounds of raw; the freshness SLA of masked."""
    contract = layers.contract
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        checks = list(dg.build_column_schema_change_checks(assets=[raw]))
        if contract.row_count and (contract.row_count.min is not None or contract.row_count.max is not None):
            checks += list(
                dg.build_metadata_bounds_checks(
                    assets=[raw],
                    severity=ERROR,
                    metadata_key="dagster/row_count",
                    min_value=contract.row_count.min,
                    max_value=contract.row_count.max,
                )
            )
    return checks


def freshness_checks(contract: Contract, key: dg.AssetKey) -> list[dg.AssetChecksDefinition]:
    """The SLA: Dagster's freshness check on the published layer (none without `freshness:`)."""
    f = contract.freshness
    if f is None:
        return []
    with warnings.catch_warnings():  # "superseded" by FreshnessPolicy, whose daemon emits no check evaluation
        warnings.simplefilter("ignore")
        return list(
            dg.build_last_update_freshness_checks(
                assets=[key],
                lower_bound_delta=parse_duration(f.max_lag),
                deadline_cron=f.deadline_cron,
                severity=ERROR if f.severity == "error" else WARN,
            )
        )
