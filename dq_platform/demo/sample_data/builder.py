"""The builder: one chunk of rows for a contract, column by column in dependency order, rules enforced.

Its string, rendering and fault methods live in mixins (strings.py, rendering.py, faults.py), one
concern per module; `_Builder` is the one class they make up."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

from dq_platform.contract import Column, ColumnType, Contract, MissingPolicy, PiiCategory
from dq_platform.demo.sample_data.arrow_text import (
    _UNIT_SECONDS,
    _apply_edits,
    _crc,
    _int_text,
    _money_text,
    _parse_bound,
    _render_temporal,
    _s,
    _take,
    _weighted,
    _zipf_weights,
)
from dq_platform.demo.sample_data.faults import _Faults
from dq_platform.demo.sample_data.rendering import _Rendering
from dq_platform.demo.sample_data.strings import _Strings
from dq_platform.demo.sample_data.values import _NUMERIC, _TEMPORAL, _Comparison, _is_dob, _tokens, _Val
from dq_platform.demo.sample_data.vocabularies import HOUR_WEIGHTS
from dq_platform.demo.sample_data.world import DEFAULT_DATE_FORMATS, DEFAULT_TIMESTAMP_FORMATS, END_DATE, MISSING_SHARE


class _Builder(_Strings, _Rendering, _Faults):
    def __init__(
        self,
        contract: Contract,
        n: int,
        seed: int,
        bad_fraction: float,
        id_offset: int,
        reference_ids: int,
        chunk: int = 0,
    ):
        self.contract = contract
        self.n = n
        self.seed = abs(seed)
        self.chunk = chunk
        self.bad_fraction = bad_fraction
        self.id_offset = id_offset
        self.reference_ids = reference_ids
        self.cols = {c.name: c for c in contract.columns}
        self.comparisons = self._parse_comparisons()
        self._fmt_cache: dict[str, list[str]] = {}
        self.rule_cols = {
            name for r in contract.rules for name in self.cols if re.search(rf"\b{re.escape(name)}\b", r.expression)
        }
        self.order = self._order()
        self._warned: set[str] = set()

    # -- plumbing -----------------------------------------------------------------------
    def rng(self, *salt) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.chunk, _crc(*salt)])

    def _warn(self, msg: str) -> None:
        if msg not in self._warned:
            self._warned.add(msg)
            warnings.warn(msg, stacklevel=4)

    def _parse_comparisons(self) -> list[_Comparison]:
        out = []
        for r in self.contract.rules:
            m = re.fullmatch(r"\s*([A-Za-z_]\w*)\s*(>=|<=|>|<)\s*([A-Za-z_]\w*)\s*", r.expression)
            if not m or m.group(1) not in self.cols or m.group(3) not in self.cols:
                continue
            a, op, b = self.cols[m.group(1)], m.group(2), self.cols[m.group(3)]
            if not ((a.type in _TEMPORAL and b.type in _TEMPORAL) or (a.type in _NUMERIC and b.type in _NUMERIC)):
                continue
            if a.allowed_values or b.allowed_values:
                continue
            greater, lesser = (a.name, b.name) if op.startswith(">") else (b.name, a.name)
            out.append(_Comparison(r.id, greater, lesser, strict=len(op) == 1))
        return out

    def _name_cols(self) -> dict[str, str]:
        """Which columns hold first / last names (emails are derived from them)."""
        found = {}
        for c in self.contract.columns:
            if c.type != ColumnType.string or c.pattern or c.allowed_values:
                continue
            t = _tokens(c.name)
            namey = (c.pii is not None and c.pii.category == PiiCategory.name) or "name" in t
            if not namey:
                continue
            if t & {"first", "given", "forename"}:
                found.setdefault("first", c.name)
            elif t & {"last", "surname", "family"} or c.name in ("surname", "lastname"):
                found.setdefault("last", c.name)
        return found

    def _order(self) -> list[str]:
        """Contract order, except that a column comes after the columns it is derived from."""
        deps: dict[str, set[str]] = {name: set() for name in self.cols}
        names = set(self._name_cols().values())
        for c in self.contract.columns:
            if self._string_kind(c) == "email":
                deps[c.name] |= names
        for cmp in self.comparisons:
            deps[cmp.greater].add(cmp.lesser)
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:  # cycle: give up on ordering this edge
                return
            state[name] = 1
            for d in sorted(deps[name], key=list(self.cols).index):
                visit(d)
            state[name] = 2
            order.append(name)

        for name in self.cols:
            visit(name)
        return order

    # -- build ---------------------------------------------------------------------------
    def build(self) -> tuple[pa.Table, np.ndarray, np.ndarray]:
        """(text table, fault kind per row, fault target per row) for this chunk."""
        n = self.n
        self.index = np.arange(n, dtype=np.int64)
        vals = self._clean(self.index, 0)
        pre_bad = self._enforce_rules(vals)
        null_edits = self._render_nulls(vals)
        codes, pairs, fault_edits = self._inject_faults(vals, pre_bad)
        faulty = codes >= 0
        cosmetic_edits = self._cosmetics(vals, faulty)

        arrays = {}
        for name in self.cols:
            edits = null_edits.get(name, []) + cosmetic_edits.get(name, []) + fault_edits.get(name, [])
            arrays[name] = _apply_edits(vals[name].text, edits)
        del vals
        kinds = np.array([None] + [p.kind for p in pairs], dtype=object)
        targets = np.array([None] + [p.target for p in pairs], dtype=object)
        return pa.table(arrays), kinds[codes + 1], targets[codes + 1]

    def _clean(self, idx: np.ndarray, round_: int) -> dict[str, _Val]:
        vals: dict[str, _Val] = {}
        for name in self.order:
            col = self.cols[name]
            rng = self.rng("col", name, round_)
            v = self._gen(col, idx, rng, vals)
            if self.n and self._can_be_missing(col):
                v.null = rng.random(len(idx)) < MISSING_SHARE
            vals[name] = v
        return vals

    def _can_be_missing(self, col: Column) -> bool:
        return (
            not col.required
            and not col.unique
            and col.name not in self.rule_cols
            and col.missing_policy != MissingPolicy.reject
        )

    # -- rules ---------------------------------------------------------------------------
    def _typed_series(
        self, name: str, typed, text: pa.Array | None, null: np.ndarray | None, unit: str | None
    ) -> pd.Series:
        """Values as a validator would type them, for evaluating expression rules."""
        col = self.cols[name]
        if col.type in _TEMPORAL:
            s = pd.Series(np.asarray(typed, dtype=np.int64).astype(f"datetime64[{unit}]").astype("datetime64[s]"))
        elif col.type == ColumnType.integer and typed is not None:
            s = pd.Series(np.asarray(typed).astype(np.int64))
        elif col.type in _NUMERIC and typed is not None:
            s = pd.Series(np.asarray(typed).astype(float))
        elif col.type == ColumnType.boolean and typed is not None:
            s = pd.Series(np.asarray(typed).astype(bool))
        else:
            s = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([_s(text)])))
        return s.mask(pd.Series(null)) if null is not None and null.any() else s

    def _typed_frame(self, vals: dict[str, _Val], names, rows: np.ndarray | None = None) -> pd.DataFrame:
        data = {}
        for name in names:
            v = vals[name]
            typed = None if v.typed is None else (v.typed if rows is None else np.asarray(v.typed)[rows])
            text = v.text if rows is None else _take(v.text, rows)
            null = v.null if rows is None else v.null[rows]
            data[name] = self._typed_series(name, typed, text, null, v.unit)
        return pd.DataFrame(data)

    def _rules_hold(self, rows: np.ndarray, subst: dict[str, pd.Series], vals, skip: str | None = None) -> np.ndarray:
        """Do the expression rules that read the substituted columns still hold on ``rows``?
        A fault must violate only its own rule; rules are taken to apply only where all their
        operands are present, so null / unparseable faults never count against them."""
        ok = np.ones(len(rows), dtype=bool)
        rules = [
            r
            for r in self.contract.rules
            if r.id != skip and any(re.search(rf"\b{re.escape(c)}\b", r.expression) for c in subst)
        ]
        if not rules or not len(rows):
            return ok
        df = self._typed_frame(vals, sorted(self.rule_cols, key=list(self.cols).index), rows)
        for name, series in subst.items():
            df[name] = series.set_axis(df.index)
        for r in rules:
            try:
                res = pd.Series(df.eval(r.expression, engine="python"), index=df.index)
            except Exception:  # noqa: BLE001 - unevaluable rules were already warned about
                continue
            used = [c for c in self.rule_cols if re.search(rf"\b{re.escape(c)}\b", r.expression)]
            present = df[used].notna().all(axis=1).to_numpy()
            ok &= ~present | res.fillna(False).astype(bool).to_numpy()
        return ok

    def _rule_failures(self, vals: dict[str, _Val]) -> dict[str, np.ndarray]:
        out = {}
        if not self.contract.rules or self.n == 0:
            return out
        df = self._typed_frame(vals, sorted(self.rule_cols, key=list(self.cols).index))
        for r in self.contract.rules:
            try:
                res = df.eval(r.expression, engine="python")
                ok = np.asarray(pd.Series(res).fillna(False).astype(bool))
            except Exception as e:  # noqa: BLE001 - an expression we cannot evaluate is skipped
                self._warn(
                    f"sample_data: rule '{r.id}' not evaluated while generating ({e}); clean rows may violate it"
                )
                continue
            out[r.id] = ~ok
        return out

    def _enforce_rules(self, vals: dict[str, _Val]) -> dict[str, np.ndarray]:
        """Regenerate whole rows until every expression rule holds (rejection sampling);
        rows still failing after a few rounds are returned and reported as rule_violation."""
        for round_ in range(1, 16):
            fails = self._rule_failures(vals)
            bad = np.zeros(self.n, dtype=bool)
            for f in fails.values():
                bad |= f
            if not bad.any():
                return {}
            rows = np.flatnonzero(bad)
            new = self._clean(self.index[rows], round_)
            for name, v in vals.items():
                nv = new[name]
                if v.typed is not None:
                    v.typed[rows] = nv.typed
                v.null[rows] = nv.null
                v.text = _apply_edits(v.text, [(rows, nv.text)])
        fails = self._rule_failures(vals)
        for rid, f in fails.items():
            if f.any():
                self._warn(
                    f"sample_data: {int(f.sum())} rows still violate rule '{rid}'; "
                    "they are reported as rule_violation faults"
                )
        return {rid: f for rid, f in fails.items() if f.any()}

    # -- column generators ---------------------------------------------------------------
    def _gen(self, col: Column, idx: np.ndarray, rng: np.random.Generator, vals: dict[str, _Val]) -> _Val:
        n = len(idx)
        null = np.zeros(n, dtype=bool)
        if col.allowed_values:
            return self._gen_allowed(col, n, rng, null)
        if col.type == ColumnType.integer:
            v = self._gen_integer(col, idx, rng)
            return _Val(v, _int_text(v), null)
        if col.type == ColumnType.float:
            cents = self._gen_cents(col, n, rng)
            return _Val(cents / 100.0, _money_text(cents), null)
        if col.type in _TEMPORAL:
            unit = "D" if col.type == ColumnType.date else "s"
            v = self._gen_temporal(col, n, rng, vals, unit)
            return _Val(v, _render_temporal(v, unit, self._formats(col)[0]), null, unit=unit)
        if col.type == ColumnType.boolean:
            b = rng.random(n) < 0.7
            return _Val(b, _take(["false", "true"], b.astype(np.int64)), null)
        text, vocab = self._gen_string(col, idx, rng, vals)
        return _Val(None, text, null, vocab=vocab)

    def _gen_allowed(self, col: Column, n: int, rng, null) -> _Val:
        allowed = list(col.allowed_values)
        pick = _weighted(rng, n, _zipf_weights(len(allowed)))
        if col.type in _NUMERIC:
            arr = np.asarray([float(a) for a in allowed])[pick]
            text = (
                _int_text(arr.astype(np.int64))
                if col.type == ColumnType.integer
                else _take([str(a) for a in allowed], pick)
            )
            return _Val(arr, text, null)
        if col.type in _TEMPORAL:
            unit = "D" if col.type == ColumnType.date else "s"
            arr = np.asarray([_parse_bound(a, unit) for a in allowed], dtype=np.int64)[pick]
            return _Val(arr, _take([str(a) for a in allowed], pick), null, unit=unit)
        return _Val(None, self._apply_case(col, _take([str(a) for a in allowed], pick)), null)

    def _is_reference(self, col: Column) -> bool:
        return not col.unique and (
            (col.pii is not None and col.pii.category == PiiCategory.identifier) or col.name.endswith("_id")
        )

    def _gen_integer(self, col: Column, idx: np.ndarray, rng) -> np.ndarray:
        n = len(idx)
        lo = None if col.min is None else math.ceil(col.min)
        hi = None if col.max is None else math.floor(col.max)
        if col.unique:
            start = lo if lo is not None else 1
            v = start + self.id_offset + idx
            if hi is not None and n and v.max() > hi:
                raise ValueError(f"column '{col.name}': {n} unique ids from {start} exceed max {hi}")
            return v.astype(np.int64)
        if self._is_reference(col):
            v = 1 + np.floor(self.reference_ids * rng.random(n) ** 1.3).astype(np.int64)
        elif _tokens(col.name) & {"age"}:
            v = rng.integers(18, 91, n)
        elif _tokens(col.name) & {"quantity", "qty", "count", "items", "units"}:
            v = 1 + rng.geometric(0.45, n)
        else:
            a = lo if lo is not None else 0
            if hi is not None and hi - a <= 1000:
                v = rng.integers(a, hi + 1, n)
            else:
                median = max(10.0, (hi - a) / 100 if hi is not None else 50.0)
                v = a + np.floor(median * rng.lognormal(0.0, 1.0, n)).astype(np.int64)
        if lo is not None or hi is not None:
            v = np.clip(v, lo, hi)
        return v.astype(np.int64)

    def _gen_cents(self, col: Column, n: int, rng) -> np.ndarray:
        t = _tokens(col.name)
        lo, hi = col.min, col.max
        if t & {"income", "salary", "wage", "wages", "revenue", "earnings"} or (
            col.pii is not None and col.pii.category == PiiCategory.financial
        ):
            x = 58_000 * rng.lognormal(0.0, 0.75, n)
        elif t & {"amount", "price", "total", "cost", "value", "balance", "payment", "fee", "spend"}:
            x = 45 * rng.lognormal(0.0, 1.25, n)
        elif lo is not None and hi is not None and hi - lo <= 1000:
            x = rng.uniform(lo, hi, n)
        else:
            base = lo if lo is not None else 0.0
            scale = max(1.0, (hi - base) / 1000) if hi is not None else 100.0
            x = base + scale * rng.lognormal(0.0, 1.0, n)
        cents = np.round(x * 100).astype(np.int64)
        if lo is not None:
            cents = np.maximum(cents, math.ceil(round(lo * 100, 6)))
        if hi is not None:
            cents = np.minimum(cents, math.floor(round(hi * 100, 6)))
        return cents

    def _range(self, col: Column, unit: str) -> tuple[int, int]:
        """Default realistic range intersected with the contract's min/max (in ``unit``)."""
        per_day = _UNIT_SECONDS["D"] // _UNIT_SECONDS[unit]
        day = lambda d: int(np.datetime64(d, "D").astype(np.int64)) * per_day  # noqa: E731
        if _is_dob(col):
            dlo, dhi = day("1940-01-01"), day("2006-12-31")
        else:
            dlo, dhi = day("2000-01-01"), day(str(END_DATE))
        dhi += per_day - 1
        cmin, cmax = _parse_bound(col.min, unit), _parse_bound(col.max, unit)
        lo = max(dlo, cmin) if cmin is not None else dlo
        hi = min(dhi, cmax) if cmax is not None else dhi
        if lo > hi:  # the contract's range lies outside the defaults: use it
            lo = cmin if cmin is not None else cmax - 3650 * per_day
            hi = cmax if cmax is not None else lo + 3650 * per_day
        if col.not_in_future:
            hi = min(hi, day(str(END_DATE)) + per_day - 1)
            lo = min(lo, hi)
        return lo, hi

    def _partner_bound(self, cmp: _Comparison, unit: str, vals: dict[str, _Val]) -> np.ndarray:
        """Per-row lower bound of the greater column of a comparison, from the lesser one."""
        p = vals[cmp.lesser]
        pv = np.asarray(p.typed)
        g = self.cols[cmp.greater]
        if g.type in _TEMPORAL:
            sec = pv * _UNIT_SECONDS[p.unit]
            if _is_dob(self.cols[cmp.lesser]):
                sec = sec + 18 * 365 * 86400 + 5 * 86400  # accounts are opened by adults
            step = _UNIT_SECONDS[unit] if cmp.strict else 0
            return -(-sec // _UNIT_SECONDS[unit]) + (step // _UNIT_SECONDS[unit])
        return pv + (1 if cmp.strict else 0)

    def _gen_temporal(self, col: Column, n: int, rng, vals: dict[str, _Val], unit: str) -> np.ndarray:
        lo, hi = self._range(col, unit)
        pos = rng.beta(2.2, 2.0, n) if _is_dob(col) else rng.random(n) ** 0.65
        lo_row = np.full(n, lo, dtype=np.int64)
        for cmp in self.comparisons:
            if cmp.greater == col.name and cmp.lesser in vals:
                lo_row = np.maximum(lo_row, self._partner_bound(cmp, unit, vals))
        span = np.maximum(hi - lo_row + 1, 1)
        if unit == "s" and not (lo_row > lo).any():
            per_day = 86400
            days = lo // per_day + np.floor(pos * ((hi - lo + 1) // per_day)).astype(np.int64)
            secs = _weighted(rng, n, HOUR_WEIGHTS) * 3600 + rng.integers(0, 3600, n)
            v = days * per_day + secs
            return np.clip(v, lo, hi)
        return np.minimum(lo_row + np.floor(pos * span).astype(np.int64), hi)

    def _formats(self, col: Column) -> list[str]:
        """Accepted input formats, canonical first, ambiguous alternatives dropped (an
        alternative that an earlier format would read as a different date is never emitted)."""
        if col.name not in self._fmt_cache:
            self._fmt_cache[col.name] = self._compute_formats(col)
        return self._fmt_cache[col.name]

    def _compute_formats(self, col: Column) -> list[str]:
        if col.date_formats:
            fmts = list(col.date_formats)
        else:
            fmts = list(DEFAULT_DATE_FORMATS if col.type == ColumnType.date else DEFAULT_TIMESTAMP_FORMATS)
        from datetime import datetime

        probes = [datetime(2021, 3, 4, 5, 6, 7), datetime(2021, 11, 12, 13, 14, 15)]
        kept = [fmts[0]]
        for f in fmts[1:]:
            ok = True
            for p in probes:
                s = p.strftime(f)
                for g in kept:
                    try:
                        if datetime.strptime(s, g) != datetime.strptime(s, f):
                            ok = False
                    except ValueError:
                        pass
            if ok:
                kept.append(f)
        return kept
