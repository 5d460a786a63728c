"""The builder's value types: a generated column, a comparison between columns, a fault pair."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from dq_platform.contract import Column, ColumnType, PiiCategory

# --------------------------------------------------------------------------------------
# Value types of the builder
# --------------------------------------------------------------------------------------


@dataclass
class _Val:
    """One column of clean rows: typed values (for rules), canonical text, natural nulls."""

    typed: np.ndarray | None
    text: pa.Array
    null: np.ndarray
    unit: str | None = None  # "D" or "s" for temporal columns (typed holds integer counts)
    vocab: tuple[str, np.ndarray] | None = None  # (vocabulary, index) for name columns


@dataclass(frozen=True)
class _Comparison:
    rule_id: str
    greater: str
    lesser: str
    strict: bool


@dataclass(frozen=True)
class _Pair:
    kind: str
    target: str  # column name or "rule:<id>"
    column: str | None  # column edited (None for rule faults)
    comparison: _Comparison | None = None


_NUMERIC = (ColumnType.integer, ColumnType.float)
# Faults whose value stays typed (a number, a date, a string) and could trip an expression rule.
_RULE_CHECKED = {
    "negative_number",
    "out_of_range",
    "future_date",
    "bad_allowed_value",
    "bad_pattern",
    "bad_email",
    "bad_phone",
    "non_alphabetic",
    "non_alphanumeric",
    "bad_currency_code",
    "bad_uuid",
    "too_short",
    "too_long",
    "duplicate_id",
}
_TEMPORAL = (ColumnType.date, ColumnType.timestamp)


def _is_dob(col: Column) -> bool:
    return (
        (col.pii is not None and col.pii.category == PiiCategory.date_of_birth)
        or "birth" in col.name
        or col.name == "dob"
    )


def _tokens(name: str) -> set[str]:
    return set(name.lower().split("_"))
