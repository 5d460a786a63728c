"""Checks across contracts, once all of them are loaded; each error says file:line: field: reason.

Model names are unique and not another dataset's asset; facts' references and aggregations'
joins resolve to a declared model whose key masks alike and has the same type. Masked keys still
join: columns masked with the same `pii.key_domain` (and strategy) give equal tokens in every
dataset (engine/masking.py), so a check that the two sides mask alike is part of it.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from dq_platform.contract.catalog import ModelEntry, dataset_asset_names, model_catalog
from dq_platform.contract.columns import Column
from dq_platform.contract.dataset import Contract
from dq_platform.contract.yaml_text import YAML_LOADER, describe, line_index

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
            return (
                "not masked"
                if c.pii is None
                else f"masked {c.pii.masking.value} in key domain '{c.pii.key_domain or c.name}'"
            )

        return (
            f"'{column}' is {say(a)} but {entry.model.name}.{key} is {say(b)}: their masked values "
            f"would never match (give both pii.key_domain: <same name>)"
        )
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
                parsed.extend((line_index(text), yaml.load(text, Loader=YAML_LOADER)))
            lines, data = parsed
            found = loc
            while found not in lines and len(found) > 1:
                found = found[:-1]
            errors.append(f"{path}:{lines.get(found, 1)}: {describe(loc, data)}: {reason}")

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
                    err(
                        ("model", "references", fk),
                        f"unknown model '{target}' (declared: {', '.join(sorted(catalog)) or 'none'})",
                    )
                elif len(entry.key) != 1:
                    err(
                        ("model", "references", fk),
                        f"model '{target}' has a composite key {entry.key}; a reference names one column",
                    )
                elif problem := _join_problem(c, fk, entry, entry.key[0]):
                    err(("model", "references", fk), problem)

        for ai, agg in enumerate(c.aggregations):
            for ji, j in enumerate(agg.join):
                loc = ("aggregations", ai, "join", ji)
                entry = catalog.get(j.model)
                if entry is None:
                    err(
                        (*loc, "model"), f"unknown model '{j.model}' (declared: {', '.join(sorted(catalog)) or 'none'})"
                    )
                    continue
                if len(j.on) != len(entry.key):
                    err(
                        (*loc, "on"),
                        f"model '{j.model}' has key {entry.key}: 'on' names {len(entry.key)} column(s) in key order",
                    )
                    continue
                for col, key in zip(j.on, entry.key):
                    if col in {x.name for x in c.columns} and (problem := _join_problem(c, col, entry, key)):
                        err((*loc, "on"), problem)
                missing = [x for x in j.columns if x not in entry.columns]
                if missing:
                    err(
                        (*loc, "columns"),
                        f"model '{j.model}' has no column(s) {', '.join(missing)} "
                        f"(its columns: {', '.join(entry.columns)})",
                    )
                    continue
                joined = {x: entry.type_of(x) for x in j.columns}
                for mi, metric in enumerate(agg.metrics):
                    if (
                        metric.column in joined
                        and metric.agg in ("sum", "mean", "median")
                        and joined[metric.column] not in ("integer", "float")
                    ):
                        err(
                            ("aggregations", ai, "metrics", mi, "column"),
                            f"{metric.agg} needs a numeric column; {j.model}.{metric.column} is {joined[metric.column]}",
                        )
    return errors
