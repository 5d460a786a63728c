"""What contracts declare for one another, by name: their models, and the assets each one claims.

A contract's `model:` can be joined (aggregations) and referenced (facts) by other contracts;
`model_catalog` indexes them by name, `joined_types` gives a join's columns their masked types.
`dataset_asset_names` and `modeling_tables` are the asset and table names a contract claims
(collisions between contracts, maintenance, retention, alert routing).
"""

from __future__ import annotations

from dataclasses import dataclass

from dq_platform import names
from dq_platform.contract.columns import Column
from dq_platform.contract.dataset import Contract
from dq_platform.contract.modeling import Model


@dataclass(frozen=True)
class ModelEntry:
    """A model as other contracts see it: its dataset, key and the masked type of each column."""

    contract: Contract
    model: Model

    @property
    def key(self) -> list[str]:
        return list(self.model.key)

    @property
    def columns(self) -> list[str]:
        return self.model.output_columns

    def column(self, name: str) -> Column:
        return self.contract.column(name)

    def type_of(self, name: str) -> str:
        return self.contract.masked_types()[name]


def model_catalog(contracts) -> dict[str, ModelEntry]:
    """Every declared model by name (the first contract wins a duplicate; load_contracts reports it)."""
    out: dict[str, ModelEntry] = {}
    for c in contracts:
        if c.model is not None and c.model.name not in out:
            out[c.model.name] = ModelEntry(c, c.model)
    return out


def dataset_asset_names(c: Contract) -> set[str]:
    """Every asset key the asset factory creates for a contract, its model's included."""
    out = {*names.file_layers(c.name), *(names.gold(c.name, a.name) for a in c.aggregations)}
    if c.semantic is not None:
        out |= {names.semantic_metrics(c.name), names.metric_definitions(c.name)}
    if c.model is not None:
        out.add(c.model.name)
    return out


def modeling_tables(c: Contract) -> list[str]:
    """The tables of a contract's model and semantic layer (maintenance, retention, alert routing)."""
    out = [c.model.name] if c.model is not None else []
    if c.semantic is not None:
        out += [names.semantic_metrics(c.name), names.metric_definitions(c.name)]
    return out


def joined_types(agg, catalog: dict[str, ModelEntry]) -> dict[str, str]:
    """Masked type of each column an aggregation joins in (for its documented schema)."""
    out = {}
    for j in agg.join:
        entry = catalog.get(j.model)
        for col in j.columns:
            out[col] = entry.type_of(col) if entry is not None and col in entry.columns else "string"
    return out
