"""Row rules from the contract, evaluated for all rows at once, and the cleaned/quarantine split.

Every raw row ends in exactly one of the two outputs: a row passing every rule is typed and
normalized into `cleaned`; a row failing any rule goes to `quarantine` with its original text,
every failed rule id and a readable reason. Rule ids are `<column>:<rule>` or the expression
rule's own id, so counts per rule are stable across runs and comparable in metadata.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from dq_platform.contract import ColumnType, Contract, MissingPolicy
from dq_platform.engine.cleaning import cleaned_dtype, fill_default, type_column
from dq_platform.engine.formats import FORMAT_PATTERNS, FORMAT_REASONS
from dq_platform.engine.parallel import map_columns

# Lineage columns the platform adds to every layer; they start with "_" so they never clash
# with contract columns and validation gates ignore them.
SOURCE_FILE, SOURCE_LINE, CHECKSUM, PARTITION = "_source_file", "_source_line", "_checksum", "_partition"
PARSE_ERROR = "_parse_error"  # set on raw rows the file reader could not split into columns
RAW_RECORD = "_raw_record"  # the whole text of such a row, kept so nothing is lost
FAILED_RULES, REASON, RUN_ID = "_failed_rules", "_reason", "_run_id"
LINEAGE = [PARTITION, SOURCE_FILE, SOURCE_LINE, CHECKSUM]
PARSE_RULE = "_file:parse"
DATASET = "dataset"  # `unique: dataset`: unique across the dataset's published files too
UNIQUE_IN_DATASET = "unique_in_dataset"  # its rule: <column>:unique_in_dataset


@dataclass
class RuleResult:
    cleaned: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    failures: dict[str, int] = field(default_factory=dict)  # rule id -> failing rows
    rule_ids: list[str] = field(default_factory=list)  # every rule evaluated, failing or not
    seconds: dict[str, float] = field(default_factory=dict)  # cleaning (typing/normalizing) vs rules
    kept: np.ndarray | None = None  # positions (in the input) of the cleaned rows

    @property
    def failure_rate(self) -> float:
        return len(self.quarantine) / self.rows_in if self.rows_in else 0.0


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bound(column, value):
    if column.type in (ColumnType.date, ColumnType.timestamp):
        return pd.Timestamp(str(value))
    return value


@dataclass
class Judged:
    """A chunk's rows typed and judged by every rule that needs only the chunk: uniqueness, which
    needs the whole file (and the dataset's published files), is added by `split`."""

    frame: pd.DataFrame  # typed values, index 0..n-1
    before: list  # (rule id, reason, failing mask): the parse rule and the column rules
    after: list  # the expression rules
    seconds: dict[str, float]

    def valid_so_far(self) -> np.ndarray:
        """Rows passing the parse and column rules: uniqueness is judged among these, so an invalid
        row can't make a valid one look like a duplicate."""
        n = len(self.frame)
        return ~np.logical_or.reduce([m for _, _, m in self.before]) if self.before else np.ones(n, bool)

    def expression_failed(self) -> np.ndarray:
        n = len(self.frame)
        return np.logical_or.reduce([m for _, _, m in self.after]) if self.after else np.zeros(n, bool)


def _mask(mask) -> np.ndarray:
    # keep plain numpy bools: one byte per row and rule, no pandas overhead
    if isinstance(mask, pd.Series):
        mask = mask.fillna(False).to_numpy(dtype=bool)
    return np.asarray(mask, dtype=bool)


def judge(raw: pd.DataFrame, contract: Contract, today: pd.Timestamp | None = None) -> Judged:
    """Type every column of `raw` (text columns + lineage) and evaluate every rule but uniqueness."""
    today = (today or pd.Timestamp.now()).normalize()
    raw = raw.reset_index(drop=True)
    n = len(raw)
    nulls = contract.source.null_values
    checks: list[tuple[str, str, np.ndarray]] = []  # (rule id, reason, failing mask)

    def add(rule_id: str, reason: str, mask, into: list = checks) -> None:
        into.append((rule_id, reason, _mask(mask)))

    if PARSE_ERROR in raw.columns:
        add(PARSE_RULE, "the line could not be parsed into the file's columns", raw[PARSE_ERROR].notna())

    def column_rules(col) -> tuple[pd.Series, list, float, float]:
        """Type one column, then judge it by its own rules: (typed values, its checks, seconds)."""
        t0 = time.perf_counter()
        name = col.name
        source = raw[name] if name in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="string")
        t = type_column(source, col, nulls)
        t1 = time.perf_counter()
        own: list = []
        values = t.values
        if name not in raw.columns:
            add(
                f"{name}:present",
                f"{name}: column is missing from the file",
                np.ones(n, bool) if col.required else np.zeros(n, bool),
                own,
            )
        policy = col.missing_policy
        if policy == MissingPolicy.reject:
            add(f"{name}:required", f"{name}: value is missing", t.missing, own)
        elif policy == MissingPolicy.default:
            values = fill_default(values, col)
        add(
            f"{name}:type",
            f"{name}: " + (FORMAT_REASONS[col.format.value] if col.format else f"not a valid {col.type.value}"),
            t.unparseable,
            own,
        )
        del t
        present = values.notna()
        if col.min is not None:
            add(
                f"{name}:min",
                f"{name}: below the minimum {_fmt(col.min)}",
                present & (values < _bound(col, col.min)),
                own,
            )
        if col.max is not None:
            add(
                f"{name}:max",
                f"{name}: above the maximum {_fmt(col.max)}",
                present & (values > _bound(col, col.max)),
                own,
            )
        if col.not_in_future:
            limit = today + pd.Timedelta(days=1) if col.type == ColumnType.timestamp else today
            add(f"{name}:not_in_future", f"{name}: lies in the future", present & (values > limit), own)
        if col.type == ColumnType.string:
            lengths = values.str.len()
            if col.min_length is not None:
                add(
                    f"{name}:min_length",
                    f"{name}: shorter than {col.min_length} characters",
                    present & (lengths < col.min_length),
                    own,
                )
            if col.max_length is not None:
                add(
                    f"{name}:max_length",
                    f"{name}: longer than {col.max_length} characters",
                    present & (lengths > col.max_length),
                    own,
                )
            if col.format is not None and col.format.value != "phone":
                add(
                    f"{name}:format",
                    f"{name}: {FORMAT_REASONS[col.format.value]}",
                    present & ~values.str.fullmatch(FORMAT_PATTERNS[col.format.value]).fillna(False),
                    own,
                )
            if col.pattern is not None:
                add(
                    f"{name}:pattern",
                    f"{name}: does not match {col.pattern}",
                    present & ~values.str.contains(col.pattern, regex=True).fillna(False),
                    own,
                )
        if col.allowed_values is not None:
            allowed = (
                pd.Series(col.allowed_values).astype(str).tolist()
                if col.type == ColumnType.string
                else col.allowed_values
            )
            add(
                f"{name}:allowed_values",
                f"{name}: not one of {', '.join(map(str, col.allowed_values))}",
                present & ~values.isin(allowed),
                own,
            )
        return values.astype(cleaned_dtype(col)), own, t1 - t0, time.perf_counter() - t1

    started = time.perf_counter()
    # Columns are typed and judged on their own, on a few threads (parallel.py); results are
    # gathered in contract order, so rule ids, reasons and the split are the same at any width.
    per_column = map_columns(column_rules, contract.columns, rows=n)
    typed: dict[str, pd.Series] = {}
    for col, (values, own, _, _) in zip(contract.columns, per_column):
        typed[col.name] = values
        checks.extend(own)
    # The stage clock (cleaning vs rules) splits this phase's wall time in the proportion the
    # column threads spent typing and judging.
    wall = time.perf_counter() - started
    typing_s, rules_s = sum(r[2] for r in per_column), sum(r[3] for r in per_column)
    del per_column
    cleaning_s = wall * typing_s / ((typing_s + rules_s) or 1.0)

    frame = pd.DataFrame(typed, index=raw.index)
    del typed

    after: list = []
    for rule in contract.rules:
        used = [c.name for c in contract.columns if re.search(rf"\b{re.escape(c.name)}\b", rule.expression)]
        result = frame.eval(rule.expression)
        judged = frame[used].notna().all(axis=1) if used else pd.Series(True, index=raw.index)
        ok = pd.Series(result, index=raw.index).astype("boolean").fillna(False)
        add(rule.id, rule.description or f"violates {rule.expression}", judged & ~ok, after)

    return Judged(frame=frame, before=checks, after=after, seconds={"cleaning": cleaning_s, "rules_started": started})


def duplicates(values: pd.Series, candidates: np.ndarray) -> np.ndarray:
    """Rows among `candidates` whose value an earlier candidate row holds (the first is kept)."""
    dup = np.zeros(len(values), bool)
    sel = candidates & values.notna().to_numpy()
    dup[sel] = values[sel].duplicated(keep="first").to_numpy()
    return dup


def unique_checks(
    judged: Judged,
    contract: Contract,
    published: Mapping[str, pd.Series] | None = None,
    duplicate_rows: Mapping[str, np.ndarray] | None = None,
) -> list[tuple[str, str, np.ndarray]]:
    """The uniqueness rules' failing masks, in contract order.

    `duplicate_rows`: per unique column, the positions of this chunk's rows that repeat an earlier
    row of the whole file (found across chunks, chunks/uniqueness.py); without it, duplicates are
    found within the frame. `published`: for `unique: dataset` columns, the values the dataset's
    other published files hold."""
    frame, out = judged.frame, []
    valid_so_far = judged.valid_so_far()
    for col in contract.columns:
        if not col.unique:
            continue
        v = frame[col.name]
        if duplicate_rows is not None:
            dup = np.zeros(len(frame), bool)
            dup[duplicate_rows.get(col.name, np.empty(0, "int64"))] = True
        else:
            dup = duplicates(v, valid_so_far)
        out.append((f"{col.name}:unique", f"{col.name}: duplicate of an earlier row", dup))
        if col.unique == DATASET and published and col.name in published:
            sel = valid_so_far & v.notna().to_numpy()
            out.append(
                (
                    f"{col.name}:{UNIQUE_IN_DATASET}",
                    f"{col.name}: already published by another file of {contract.name}",
                    sel & v.isin(published[col.name]).to_numpy(dtype=bool),
                )
            )
    return out


def evaluate(
    raw: pd.DataFrame,
    contract: Contract,
    today: pd.Timestamp | None = None,
    published: Mapping[str, pd.Series] | None = None,
) -> RuleResult:
    """Apply every contract rule to `raw` (text columns + lineage) and split the rows.

    `published`: for `unique: dataset` columns, the values the dataset's other published files hold."""
    judged = judge(raw, contract, today)
    return split(raw, judged, unique_checks(judged, contract, published))


def split(raw: pd.DataFrame, judged: Judged, uniques: list) -> RuleResult:
    """Every row into cleaned (typed) or quarantine (its original text, failed rule ids and reasons)."""
    raw = raw.reset_index(drop=True)
    n = len(raw)
    frame = judged.frame
    started = judged.seconds.get("rules_started", time.perf_counter())
    cleaning_s = judged.seconds["cleaning"]
    checks = [*judged.before, *uniques, *judged.after]
    masks = np.column_stack([m for _, _, m in checks]) if checks else np.zeros((n, 0), bool)
    checks = [(rid, reason, None) for rid, reason, _ in checks]  # the stacked copy is enough
    if checks and checks[0][0] == PARSE_RULE:
        # A line that could not be split into columns has no column values to judge: report the
        # parse error alone, not every column rule its empty cells would also fail.
        masks[masks[:, 0], 1:] = False
    failed = masks.any(axis=1) if masks.size else np.zeros(n, bool)
    failures = {rid: int(masks[:, i].sum()) for i, (rid, _, _) in enumerate(checks) if masks[:, i].any()}

    lineage = [c for c in LINEAGE if c in raw.columns]
    keep = ~failed
    cleaned = frame.loc[keep]
    del frame
    for c in lineage:
        cleaned[c] = raw[c].array[keep]
    cleaned = cleaned.reset_index(drop=True)

    quarantine = raw.loc[failed].copy()
    if failed.any():
        sub = masks[failed]
        ids = np.array([rid for rid, _, _ in checks], dtype=object)
        reasons = np.array([r for _, r, _ in checks], dtype=object)
        quarantine[FAILED_RULES] = _join(sub, ids).to_numpy()
        quarantine[REASON] = _join(sub, reasons).to_numpy()
    else:
        quarantine[FAILED_RULES] = pd.Series(dtype="string")
        quarantine[REASON] = pd.Series(dtype="string")
    quarantine = quarantine.reset_index(drop=True)
    quarantine[FAILED_RULES] = quarantine[FAILED_RULES].astype("string")
    quarantine[REASON] = quarantine[REASON].astype("string")
    clock = {"cleaning": cleaning_s, "rules": time.perf_counter() - started - cleaning_s}
    return RuleResult(
        cleaned=cleaned,
        quarantine=quarantine,
        rows_in=n,
        failures=failures,
        rule_ids=[rid for rid, _, _ in checks],
        seconds=clock,
        kept=np.flatnonzero(keep),
    )


def _join(masks: np.ndarray, labels: np.ndarray) -> pd.Series:
    """Per failing row, the labels of its failed rules joined by '; ' (vectorized per rule)."""
    out = np.full(masks.shape[0], "", dtype=object)
    for i, label in enumerate(labels):
        m = masks[:, i]
        if m.any():
            out[m] = np.where(out[m] == "", label, out[m] + "; " + label)
    return pd.Series(out, dtype="string")
