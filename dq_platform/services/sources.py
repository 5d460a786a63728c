"""What the API and the dashboard read, and the one list of tables they may serve.

`Sources` holds Dagster's instance (run and event storage: the audit log), the Delta warehouse
and the contracts. `servable_tables` is the allow-list: masked, gold, semantic and anomaly tables
only. Raw, cleaned and quarantine tables hold values as received (quarantine by necessity) and
are never in it, so no route can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract, load_contracts, model_catalog
from dq_platform.engine.aggregation import PERIOD
from dq_platform.io.warehouse import Warehouse

MASKED, GOLD, SEMANTIC, DEFINITIONS, ANOMALIES = "masked", "gold", "semantic", "metric_definitions", "anomalies"


@dataclass(frozen=True)
class ServedTable:
    """A table a route may return rows of, with the columns it may be filtered on."""

    name: str
    dataset: str
    kind: str  # masked | gold | semantic | metric_definitions | anomalies
    description: str
    filterable: tuple[str, ...]  # equality filters: group-by columns (gold), dimensions (semantic)
    time_column: str | None = None  # date range filters (from/to) apply to it


def servable_tables(contracts: list[Contract]) -> dict[str, ServedTable]:
    """Every table of the masked, gold and semantic layers the contracts declare, by name."""
    out: dict[str, ServedTable] = {}
    for c in contracts:
        pii = {col.name for col in c.columns if col.pii is not None}
        out[names.masked(c.name)] = ServedTable(
            names.masked(c.name),
            c.name,
            MASKED,
            f"{c.name}, PII masked (silver)",
            tuple(col.name for col in c.columns if col.name not in pii),
        )
        for agg in c.aggregations:
            table = names.gold(c.name, agg.name)
            out[table] = ServedTable(
                table,
                c.name,
                GOLD,
                agg.description or f"{agg.name} of {c.name}",
                tuple(agg.group_by),
                PERIOD if agg.time_column else None,
            )
        if c.semantic is not None:
            dims = sorted({d for m in c.semantic.metrics for d in m.dimensions})
            out[names.semantic_metrics(c.name)] = ServedTable(
                names.semantic_metrics(c.name),
                c.name,
                SEMANTIC,
                c.semantic.description or f"business metrics of {c.name}",
                ("metric", "grain", *dims),
                PERIOD,
            )
            out[names.metric_definitions(c.name)] = ServedTable(
                names.metric_definitions(c.name), c.name, DEFINITIONS, f"what each metric of {c.name} means", ()
            )
        if c.anomalies:
            table = names.anomalies(c.name)
            out[table] = ServedTable(
                table, c.name, ANOMALIES, f"anomalies found in {c.name}", ("rule_id", "severity"), "window_start"
            )
    return out


@dataclass
class Sources:
    """Where the services read from. Built from the settings (DAGSTER_HOME, DQ_WAREHOUSE_URI,
    DQ_CONTRACTS_DIR) by `from_settings`, or from explicit parts in tests."""

    instance: dg.DagsterInstance
    warehouse: Warehouse
    contracts: dict[str, Contract]
    tables: dict[str, ServedTable] = field(init=False)

    def __post_init__(self):
        self.tables = servable_tables(list(self.contracts.values()))

    @classmethod
    def from_settings(cls) -> Sources:
        settings.ensure_dagster_home()
        return cls(
            instance=dg.DagsterInstance.get(),
            warehouse=Warehouse(root=settings.warehouse_uri()),
            contracts={c.name: c for c in load_contracts(settings.contracts_dir())},
        )

    @cached_property
    def check_keys(self) -> dict[str, list[dg.AssetCheckKey]]:
        """Every asset check of each dataset, as the definitions declare them (built once)."""
        from dq_platform.defs.dataset import build_dataset

        contracts = list(self.contracts.values())
        catalog = model_catalog(contracts)
        return {c.name: build_dataset(c, catalog).check_keys for c in contracts}
