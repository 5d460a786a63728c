"""What the leak gates, profiling and the `scrub` strategy ask of the detector, per column and frame.

Results are counts, row positions and value *shapes* only: nothing here returns a raw value, so the
output can go into Dagster check metadata, logs and alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Contract
from dq_platform.engine.cleaning import arrow_strings
from dq_platform.engine.parallel import map_columns
from dq_platform.engine.pii.checksums import bools
from dq_platform.engine.pii.detector import numeric_hits, resolve
from dq_platform.engine.strings import canonical_strings

__all__ = ["PiiScan", "column_hits", "raw_value_echo", "scan_frame", "scrub_text", "shape_of"]


def _is_numeric(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)


def _scannable(df: pd.DataFrame, columns: Iterable[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    return [
        c
        for c in df.columns
        if pd.api.types.is_string_dtype(df[c].dtype) or df[c].dtype == object or _is_numeric(df[c])
    ]


def column_hits(series: pd.Series) -> dict[str, np.ndarray]:
    """{kind: boolean row mask} of one column; text and numbers alike. Only kinds found appear."""
    if len(series) == 0:
        return {}
    if _is_numeric(series):
        return numeric_hits(series)
    return resolve(arrow_strings(series))[1]


def scan_frame(df: pd.DataFrame, columns: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """{column: {kind: number of values containing that kind}} — only non-zero entries appear,
    so an empty dict means nothing was found. Scans text and numeric columns unless told which."""
    names = _scannable(df, columns)
    counts = map_columns(
        lambda col: {kind: int(mask.sum()) for kind, mask in column_hits(df[col]).items()}, names, rows=len(df)
    )
    return {col: found for col, found in zip(names, counts) if found}


def scrub_text(series: pd.Series) -> pd.Series:
    """Free text with every value the PII gate would flag replaced by a marker: "[email]", "[phone]",
    "[ssn]", "[card]", "[iban]", "[ipv4]", "[ipv6]"; the rest of the text is kept.

    The gate's own detector, asked for the replaced text instead of the row masks, so what scrub
    replaces is what the gate flags and scrubbed text passes the gate by construction. Names are not
    patterns: a free-text column that can hold names needs `redact`.
    """
    if len(series) == 0:
        return series.astype("string")
    out, _ = resolve(arrow_strings(series), replace=True)
    return pd.Series(pd.arrays.ArrowStringArray(out), index=series.index, name=series.name).astype("string")


def shape_of(values: pd.Series, max_len: int = 32) -> list[str]:
    """Shape of values without their content: digits -> "9", letters -> "x"/"X", punctuation
    kept, cut at ``max_len`` ("jane.doe@mail.com" -> "xxxx.xxx@xxxx.xxx")."""
    arr = arrow_strings(values.astype("string") if _is_numeric(values) else values)
    arr = pc.replace_substring_regex(arr, "[0-9]", "9")
    arr = pc.replace_substring_regex(arr, r"[a-z]|[^\x00-\x7F\p{Lu}]", "x")
    arr = pc.replace_substring_regex(arr, r"\p{Lu}", "X")
    out = []
    for v in arr.to_pylist():  # a handful of samples, never a data column
        v = "" if v is None else v
        out.append(v if len(v) <= max_len else v[:max_len] + "...")
    return out


@dataclass(frozen=True)
class PiiScan:
    """Check-metadata-safe result of a PII scan. It NEVER holds raw values.

    ``counts``: {column: {kind: values containing it}}; ``first_rows``: the 0-based row positions of
    the first few hits per column and kind; ``shapes``: for those same rows, only the *shape* of the
    value (every digit -> "9", every letter -> "x"/"X"; e.g. "xxxx@xxxxx.xxx", "999-999-9999"),
    enough to tell "an unmasked phone" from "a masked one" without showing a single raw character
    other than punctuation.
    """

    rows: int
    columns: tuple[str, ...]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    first_rows: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    shapes: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, df: pd.DataFrame, columns: Iterable[str] | None = None, max_positions: int = 5) -> PiiScan:
        cols = _scannable(df, columns)
        counts, first_rows, shapes = {}, {}, {}
        for col in cols:
            masks = column_hits(df[col])
            if not masks:
                continue
            counts[col] = {kind: int(m.sum()) for kind, m in masks.items()}
            first_rows[col] = {kind: np.flatnonzero(m)[:max_positions].tolist() for kind, m in masks.items()}
            shapes[col] = {kind: shape_of(df[col].iloc[pos]) for kind, pos in first_rows[col].items()}
        return cls(rows=len(df), columns=tuple(cols), counts=counts, first_rows=first_rows, shapes=shapes)

    @property
    def total(self) -> int:
        """Number of (column, kind, value) hits."""
        return sum(n for kinds in self.counts.values() for n in kinds.values())

    @property
    def clean(self) -> bool:
        return not self.counts

    def summary(self) -> str:
        """One line for a check description or an alert, e.g. "phone: 3 in contact; ..."."""
        if self.clean:
            return f"no PII found in {len(self.columns)} column(s), {self.rows} row(s)"
        return "; ".join(f"{kind}: {n} in {col}" for col, kinds in self.counts.items() for kind, n in kinds.items())

    def to_metadata(self) -> dict:
        """Plain JSON-serializable dict for Dagster check metadata."""
        return {
            "rows_scanned": self.rows,
            "columns_scanned": list(self.columns),
            "total_hits": self.total,
            "counts": self.counts,
            "first_rows": self.first_rows,
            "shapes": self.shapes,
        }


def _echo_text(series: pd.Series) -> pa.Array:
    """String columns as they are (zero-copy); anything else in masking's canonical string form."""
    if not (pd.api.types.is_string_dtype(series.dtype) and series.dtype != object):
        series = canonical_strings(series)
    return arrow_strings(series)


def raw_value_echo(masked: pd.DataFrame, cleaned: pd.DataFrame, contract: Contract) -> dict[str, int]:
    """{column: masked values equal to some raw value of the same column} — non-zero only.

    Every masking strategy but `scrub` changes the value, so any echo means a masking bug or a leaking
    strategy. Values are compared as strings, non-strings in the canonical form masking hashes
    (42 == "42"), with Arrow's hash-based ``is_in`` (pandas' isin on Arrow strings is ~30x slower).
    """
    # scrub: text without PII in it stays as it was; the pattern scan judges it
    names = [
        c.name
        for c in contract.pii_columns
        if c.name in masked.columns and c.name in cleaned.columns and c.pii.masking.value != "scrub"
    ]

    def echoes(name: str) -> int:
        hit = pc.is_in(_echo_text(masked[name]), value_set=_echo_text(cleaned[name]), skip_nulls=True)
        return int(bools(hit).sum())

    counts = map_columns(echoes, names, rows=len(masked))
    return {name: n for name, n in zip(names, counts) if n}
