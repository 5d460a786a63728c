"""What the layer builders (raw.py, clean.py, masked.py, gold.py) share for one dataset.

Its asset keys and partitions, the metadata every asset of the dataset carries (group, owner,
tags) and the column schema shown in the UI. Built once per contract by dataset.py and handed to
each builder, so no builder spells another layer's name.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from dq_platform import names
from dq_platform.contract import ColumnType, Contract
from dq_platform.engine.profiling import Profile, profile_table, round_stat
from dq_platform.io.warehouse import Warehouse

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN


def partitions_def(dataset: str) -> dg.DynamicPartitionsDefinition:
    """One partition per source file content (names.partitions)."""
    return dg.DynamicPartitionsDefinition(name=names.partitions(dataset))


@dataclass(frozen=True)
class Layers:
    """A dataset's file-partitioned assets: keys, partitions and shared asset arguments."""

    contract: Contract

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def partitions(self) -> dg.DynamicPartitionsDefinition:
        return partitions_def(self.name)

    @property
    def raw(self) -> dg.AssetKey:
        return dg.AssetKey(names.raw(self.name))

    @property
    def cleaned(self) -> dg.AssetKey:
        return dg.AssetKey(names.cleaned(self.name))

    @property
    def quarantine(self) -> dg.AssetKey:
        return dg.AssetKey(names.quarantine(self.name))

    @property
    def masked(self) -> dg.AssetKey:
        return dg.AssetKey(names.masked(self.name))

    @property
    def common(self) -> dict:
        """Group, owner and tags: the asset arguments every asset of the dataset shares."""
        c = self.contract
        return dict(group_name=c.asset_group, owners=[c.owner], tags=dict(c.tags))

    def stored_rows(self, warehouse: Warehouse, partition: str) -> tuple[int, int, int]:
        """Rows of the partition as stored (Delta log statistics): raw, cleaned, quarantine."""
        return tuple(
            warehouse.row_counts(k.path[-1]).get(partition, 0) for k in (self.raw, self.cleaned, self.quarantine)
        )


def table_schema(contract: Contract, masked: bool = False, raw: bool = False) -> dg.TableSchema:
    """The column schema the UI shows: types, nullability, uniqueness, declared constraints, PII."""
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
            desc = (
                (desc + " " if desc else "")
                + f"[PII: {c.pii.category.value}"
                + (f", masked: {c.pii.masking.value}]" if masked else "]")
            )
        cols.append(
            dg.TableColumn(
                name=c.name,
                type="string" if raw else types[c.name],
                description=desc or None,
                constraints=dg.TableColumnConstraints(
                    nullable=not c.required, unique=bool(c.unique) and not raw, other=constraints
                ),
            )
        )
    return dg.TableSchema(columns=cols)


def date_columns(contract: Contract, masked: bool = False) -> list[str]:
    types = contract.masked_types() if masked else {c.name: c.type.value for c in contract.columns}
    return [n for n, t in types.items() if t == ColumnType.date.value]


def md_table(rows: list[tuple], header: tuple) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    return "\n".join(lines)


def profile_metadata(profile: Profile) -> dict:
    """The profile as materialization metadata: a table people read, the full JSON, and plain
    numbers Dagster plots per run (`profile/<column>/null_rate|distinct|mean`; a key is absent
    when the number is undefined, e.g. no rows, or for PII columns' means)."""
    meta = {
        "profile": dg.MetadataValue.md(profile_table(profile)),
        "profile/json": dg.MetadataValue.json(profile.to_dict()),
    }
    for c in profile.columns:
        if c.null_rate is not None:
            meta[f"profile/{c.name}/null_rate"] = float(round_stat(c.null_rate))
        meta[f"profile/{c.name}/distinct"] = int(c.distinct)
        if c.stats and isinstance(c.stats.get("mean"), float):
            meta[f"profile/{c.name}/mean"] = float(c.stats["mean"])
    meta["seconds/profile"] = round(profile.seconds, 4)
    return meta
