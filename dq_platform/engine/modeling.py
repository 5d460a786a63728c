"""Dimension and fact tables (silver, from the masked layer): building them, and counting orphans.

A contract's `model:` section turns its dataset into one table with one row per key. Incremental
extracts (one partition per file, holding only new or changed rows) repeat keys: the row with the
greatest `latest_by` wins (SCD type 1), whichever partition was written last, so re-running an old
extract never brings back an old version. Facts name the models their foreign keys point at; a
key a fact holds that its model lacks is an orphan.

How contracts refer to each other (the model catalog, references and joins checked across
contracts with file and line) is contract knowledge: dq_platform.contract (catalog.py,
cross_checks.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dq_platform.contract import Model
from dq_platform.engine.rules import PARTITION, SOURCE_LINE

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
    return list(
        dict.fromkeys([*model.output_columns, *([model.latest_by] if model.latest_by else []), PARTITION, SOURCE_LINE])
    )


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
    return ModelBuild(
        frame=frame,
        rows_in=len(masked),
        superseded=len(masked) - len(frame),
        duplicate_keys=int(frame.duplicated(model.key, keep="first").sum()),
        null_keys=int(frame[model.key].isna().any(axis=1).sum()),
    )


def orphans(fact: pd.DataFrame, column: str, target: pd.Series | None) -> tuple[int, int]:
    """(non-null foreign keys, those absent from the target's key); no target table: all are absent."""
    values = fact[column].dropna()
    if target is None:
        return len(values), len(values)
    return len(values), int((~values.isin(target.dropna().unique())).sum())
