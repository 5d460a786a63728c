"""Dimension and fact tables (silver, from the masked layer) and how contracts refer to each other.

A contract's `model:` section turns its dataset into one table with one row per key. Incremental
extracts (one partition per file, holding only new or changed rows) repeat keys: the row with the
greatest `latest_by` wins (SCD type 1), whichever partition was written last, so re-running an old
extract never brings back an old version. Facts name the models their foreign keys point at, and
gold aggregations join models' columns. Both cross contract boundaries, so they are checked here,
once all contracts are loaded, with the file and line of the reference.

Masked keys still join: columns masked with the same `pii.key_domain` (and strategy) give equal
tokens in every dataset (masking.py), so a check that the two sides mask alike is part of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from dq_platform.contract import YAML_LOADER, Column, Contract, Model
from dq_platform.contract.loader import _describe, _line_index
from dq_platform.engine.rules import PARTITION, SOURCE_LINE


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
    names = {f"raw_{c.name}", f"cleaned_{c.name}", f"quarantine_{c.name}", f"masked_{c.name}",
             *(f"{c.name}_{a.name}" for a in c.aggregations)}
    if c.semantic is not None:
        names |= {semantic_metrics_name(c), metric_definitions_name(c)}
    if c.model is not None:
        names.add(c.model.name)
    return names


def modeling_tables(c: Contract) -> list[str]:
    """The tables of a contract's model and semantic layer (maintenance, retention, alert routing)."""
    out = [c.model.name] if c.model is not None else []
    if c.semantic is not None:
        out += [semantic_metrics_name(c), metric_definitions_name(c)]
    return out


def semantic_metrics_name(c: Contract) -> str:
    return f"{c.name}_semantic_metrics"


def metric_definitions_name(c: Contract) -> str:
    return f"{c.name}_metric_definitions"


# -- building the tables (vectorized) ---------------------------------------------------------

@dataclass
class ModelBuild:
    frame: pd.DataFrame  # one row per key (unless duplicate_keys > 0), sorted by key
    rows_in: int  # masked rows read
    superseded: int  # rows replaced by a newer version of their key (or exact repeats)
    duplicate_keys: int  # keys still holding more than one row: must be 0 to publish
    null_keys: int  # rows with a null key part: must be 0 to publish


def read_columns(model: Model) -> list[str]:
    """Masked columns the model needs: its own, its ordering column and the lineage tie-breakers."""
    return list(dict.fromkeys([*model.output_columns, *([model.latest_by] if model.latest_by else []),
                               PARTITION, SOURCE_LINE]))


def build_model(masked: pd.DataFrame, model: Model) -> ModelBuild:
    """One row per key; with `latest_by`, the newest row of each key wins.

    The table keeps each winning row's `_partition` and `_source_line`: which extract (file) and
    line that version came from.

    Rows are ordered by (latest_by, partition, source line): equal timestamps resolve the same
    way on every run, whatever order the partitions were written in. Without `latest_by`, only
    exact repeats collapse; two different rows for one key stay and fail the uniqueness gate.
    """
    cols = model.output_columns
    lineage = [c for c in (PARTITION, SOURCE_LINE) if c in masked.columns]
    order = [c for c in ([model.latest_by] if model.latest_by else []) + lineage]
    frame = masked.sort_values(order, kind="stable", na_position="first") if order else masked
    frame = frame.drop_duplicates(model.key if model.latest_by else cols, keep="last")[cols + lineage]
    frame = frame.sort_values(model.key, kind="stable").reset_index(drop=True)
    return ModelBuild(frame=frame, rows_in=len(masked), superseded=len(masked) - len(frame),
                      duplicate_keys=int(frame.duplicated(model.key, keep="first").sum()),
                      null_keys=int(frame[model.key].isna().any(axis=1).sum()))


def orphans(fact: pd.DataFrame, column: str, target: pd.Series | None) -> tuple[int, int]:
    """(non-null foreign keys, those absent from the target's key); no target table: all are absent."""
    values = fact[column].dropna()
    if target is None:
        return len(values), len(values)
    return len(values), int((~values.isin(target.dropna().unique())).sum())


# -- checks across contracts (file:line) -------------------------------------------------------

def _masking_of(col: Column) -> tuple:
    """What a key looks like after masking: equal tuples mean equal values stay equal."""
    if col.pii is None:
        return ("plain",)
    return (col.pii.masking.value, col.pii.key_domain or col.name)


def _join_problem(here: Contract, column: str, entry: ModelEntry, key: str) -> str | None:
    a, b = here.column(column), entry.column(key)
    if _masking_of(a) != _masking_of(b):
        def say(c: Column) -> str:
            return "not masked" if c.pii is None else f"masked {c.pii.masking.value} in key domain '{c.pii.key_domain or c.name}'"
        return (f"'{column}' is {say(a)} but {entry.model.name}.{key} is {say(b)}: their masked values "
                f"would never match (give both pii.key_domain: <same name>)")
    if here.masked_types()[column] != entry.type_of(key):
        return f"'{column}' is {here.masked_types()[column]} but {entry.model.name}.{key} is {entry.type_of(key)}"
    return None


def cross_contract_errors(loaded: list[tuple[Contract, Path]]) -> list[str]:
    """Model names, fact references and aggregation joins, resolved across all contracts."""
    catalog = model_catalog(c for c, _ in loaded)
    errors: list[str] = []
    owner_of: dict[str, str] = {}
    for c, _ in loaded:
        for name in dataset_asset_names(c) - ({c.model.name} if c.model else set()):
            owner_of[name] = c.name

    for c, path in loaded:
        parsed: list = []  # line index and data, read only when there is an error to place

        def err(loc: tuple, reason: str) -> None:
            if not parsed:
                text = path.read_text(encoding="utf-8")
                parsed.extend((_line_index(text), yaml.load(text, Loader=YAML_LOADER)))
            lines, data = parsed
            found = loc
            while found not in lines and len(found) > 1:
                found = found[:-1]
            errors.append(f"{path}:{lines.get(found, 1)}: {_describe(loc, data)}: {reason}")

        m = c.model
        if m is not None:
            first = catalog[m.name].contract.name
            if first != c.name:
                err(("model", "name"), f"model '{m.name}' is already declared by contract '{first}'")
            elif m.name in owner_of:
                err(("model", "name"), f"'{m.name}' is already an asset of contract '{owner_of[m.name]}'")
            for fk, target in m.references.items():
                entry = catalog.get(target)
                if entry is None:
                    err(("model", "references", fk), f"unknown model '{target}' (declared: {', '.join(sorted(catalog)) or 'none'})")
                elif len(entry.key) != 1:
                    err(("model", "references", fk), f"model '{target}' has a composite key {entry.key}; a reference names one column")
                elif problem := _join_problem(c, fk, entry, entry.key[0]):
                    err(("model", "references", fk), problem)

        for ai, agg in enumerate(c.aggregations):
            for ji, j in enumerate(agg.join):
                loc = ("aggregations", ai, "join", ji)
                entry = catalog.get(j.model)
                if entry is None:
                    err((*loc, "model"), f"unknown model '{j.model}' (declared: {', '.join(sorted(catalog)) or 'none'})")
                    continue
                if len(j.on) != len(entry.key):
                    err((*loc, "on"), f"model '{j.model}' has key {entry.key}: 'on' names {len(entry.key)} column(s) in key order")
                    continue
                for col, key in zip(j.on, entry.key):
                    if col in {x.name for x in c.columns} and (problem := _join_problem(c, col, entry, key)):
                        err((*loc, "on"), problem)
                missing = [x for x in j.columns if x not in entry.columns]
                if missing:
                    err((*loc, "columns"), f"model '{j.model}' has no column(s) {', '.join(missing)} "
                                           f"(its columns: {', '.join(entry.columns)})")
                    continue
                joined = {x: entry.type_of(x) for x in j.columns}
                for mi, metric in enumerate(agg.metrics):
                    if metric.column in joined and metric.agg in ("sum", "mean", "median") \
                            and joined[metric.column] not in ("integer", "float"):
                        err(("aggregations", ai, "metrics", mi, "column"),
                            f"{metric.agg} needs a numeric column; {j.model}.{metric.column} is {joined[metric.column]}")
    return errors


def joined_types(agg, catalog: dict[str, ModelEntry]) -> dict[str, str]:
    """Masked type of each column an aggregation joins in (for its documented schema)."""
    out = {}
    for j in agg.join:
        entry = catalog.get(j.model)
        for col in j.columns:
            out[col] = entry.type_of(col) if entry is not None and col in entry.columns else "string"
    return out
