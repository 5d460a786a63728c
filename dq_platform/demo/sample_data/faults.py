"""Fault injection: exactly one contract violation per faulty row, recorded so tests know the expected counts."""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, ColumnType, Format, MissingPolicy
from dq_platform.demo.sample_data.arrow_text import (
    _UNIT_SECONDS,
    _fmt_parts,
    _int_text,
    _join,
    _money_text,
    _pad,
    _parse_bound,
    _pick,
    _strftime,
    _take,
)
from dq_platform.demo.sample_data.values import _NUMERIC, _RULE_CHECKED, _TEMPORAL, _Comparison, _is_dob, _Pair, _Val
from dq_platform.demo.sample_data.vocabularies import CURRENCY_CODES, OTHER_STATUSES
from dq_platform.demo.sample_data.world import END_DATE, FUTURE_START


class _Faults:
    """Mixin of `_Builder`: the faults, one per faulty row."""

    # -- faults --------------------------------------------------------------------------
    def _fault_pairs(self, vals: dict[str, _Val]) -> list[_Pair]:
        pairs: list[_Pair] = []
        for col in self.contract.columns:
            for kind in self._column_fault_kinds(col):
                pairs.append(_Pair(kind, col.name, col.name))
        for cmp in self.comparisons:
            if self._rule_fault_window(cmp) is not None:
                kind = "birth_after_creation" if _is_dob(self.cols[cmp.lesser]) else "rule_violation"
                pairs.append(_Pair(kind, f"rule:{cmp.rule_id}", None, cmp))
        return pairs

    def _column_fault_kinds(self, col: Column) -> list[str]:
        kinds = []
        if col.missing_policy == MissingPolicy.reject:
            kinds.append("null_required")
        if col.unique:
            kinds.append("duplicate_id")
        if col.type in _NUMERIC:
            kinds.append("non_numeric")
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            else:
                if col.min is not None and col.min >= 0:
                    kinds.append("negative_number")
                if col.max is not None or (col.min is not None and (col.min < 0 or (col.min > 0 and not col.unique))):
                    kinds.append("out_of_range")
        elif col.type in _TEMPORAL:
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            fmt = self._formats(col)[0]
            if {"Y", "m", "d"} <= set(re.findall(r"%(.)", fmt)):
                kinds.append("impossible_date")
            kinds.append("malformed_date")
            if col.not_in_future and col.max is None:
                kinds.append("future_date")
            if not col.allowed_values and (col.min is not None or col.max is not None):
                kinds.append("out_of_range")
        elif col.type == ColumnType.boolean:
            kinds.append("bad_boolean")
        else:
            kind = self._string_kind(col)
            if col.allowed_values:
                kinds.append("bad_allowed_value")
            elif col.pattern:
                kinds.append("bad_pattern")
            elif col.format is not None:
                kinds.append(
                    {
                        Format.email: "bad_email",
                        Format.phone: "bad_phone",
                        Format.alphabetic: "non_alphabetic",
                        Format.alphanumeric: "non_alphanumeric",
                        Format.currency_code: "bad_currency_code",
                        Format.uuid: "bad_uuid",
                    }[col.format]
                )
            plain = (
                not col.allowed_values
                and not col.pattern
                and col.format in (None, Format.alphabetic, Format.alphanumeric)
                and kind not in ("uuid",)
            )
            if plain and col.min_length is not None and col.min_length > 1:
                kinds.append("too_short")
            if plain and col.max_length is not None:
                kinds.append("too_long")
        return kinds

    def _inject_faults(self, vals: dict[str, _Val], pre_bad: dict[str, np.ndarray]):
        n = self.n
        rng = self.rng("faults")
        pairs = self._fault_pairs(vals)
        base = len(pairs)
        codes = np.full(n, -1, dtype=np.int64)
        edits: dict[str, list] = {}
        # rows that generation could not make satisfy a rule are faults too (rare, warned)
        for rid, mask in pre_bad.items():
            pairs.append(_Pair("rule_violation", f"rule:{rid}", None))
            codes[mask & (codes < 0)] = len(pairs) - 1
        k = min(int(round(n * self.bad_fraction)), int((codes < 0).sum()))
        if base == 0 or k == 0:
            return codes, pairs, edits
        free = np.flatnonzero(codes < 0)
        rows = np.sort(rng.choice(free, size=k, replace=False))
        assigned = rng.integers(0, base, k)
        codes[rows] = assigned
        pair_index = {(p.kind, p.target): i for i, p in enumerate(pairs)}
        clean_sorted = np.flatnonzero(codes < 0)

        todo = [(i, rows[assigned == i]) for i in range(base)]
        while todo:
            i, sub = todo.pop(0)
            if not len(sub):
                continue
            p = pairs[i]
            values, ok, fallback = self._fault_values(p, sub, vals, rng, clean_sorted, edits)
            if values is not None and p.column is not None and p.column in self.rule_cols and p.kind in _RULE_CHECKED:
                keep = self._rules_hold(sub[ok], {p.column: self._fault_typed(p.column, values)}, vals)
                values = values.filter(pa.array(keep))
                ok[np.flatnonzero(ok)[~keep]] = False
            if values is not None and p.column is not None:
                edits.setdefault(p.column, []).append((sub[ok], values))
            bad = sub[~ok]
            if len(bad):
                if fallback is None:
                    codes[bad] = -1
                    continue
                key = (fallback, p.target)
                if key not in pair_index:
                    pairs.append(_Pair(fallback, p.target, p.column))
                    pair_index[key] = len(pairs) - 1
                j = pair_index[key]
                codes[bad] = j
                todo.append((j, bad))
        return codes, pairs, edits

    def _fault_typed(self, name: str, values: pa.Array) -> pd.Series:
        """Parse injected text the way a validator would, for the rule check."""
        col = self.cols[name]
        s = pd.Series(values.to_pandas(types_mapper=lambda t: pd.StringDtype("pyarrow")))
        s = s.str.strip()
        if col.type in _NUMERIC:
            return pd.to_numeric(s, errors="coerce")
        if col.type in _TEMPORAL:
            out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[s]")
            for f in self._formats(col):
                miss = out.isna()
                out[miss] = pd.to_datetime(s[miss], format=f, errors="coerce")
            return out
        if col.cleaning.case == Case.lower:
            s = s.str.lower()
        elif col.cleaning.case == Case.upper:
            s = s.str.upper()
        return s

    def _fallback(self, col: Column, kind: str) -> str | None:
        if col.type in _TEMPORAL:
            return "malformed_date"
        if col.type in _NUMERIC:
            return "non_numeric"
        if kind != "null_required" and col.missing_policy == MissingPolicy.reject:
            return "null_required"
        return None

    def _fault_values(self, p: _Pair, rows: np.ndarray, vals, rng, clean_sorted, edits):
        """(values, ok mask, fallback kind) for one fault kind on ``rows``."""
        m = len(rows)
        ok = np.ones(m, dtype=bool)
        if p.comparison is not None:
            return None, self._fault_rule(p.comparison, rows, vals, rng, edits), None
        col = self.cols[p.column]
        v = vals[col.name]
        fb = self._fallback(col, p.kind)
        x = _take(v.text, rows)
        kind = p.kind

        if kind == "null_required":
            tokens = self._null_tokens()
            if "" in self.contract.source.null_values:
                tokens = tokens + ["   "]
            as_null = rng.random(m) < 0.7 if tokens else np.ones(m, dtype=bool)
            tok = _take(tokens or [""], rng.integers(0, max(len(tokens), 1), m))
            return pc.if_else(pa.array(as_null), pa.nulls(m, pa.string()), tok), ok, None
        if kind == "duplicate_id":
            cnt = np.searchsorted(clean_sorted, rows)
            ok = cnt > 0
            src = clean_sorted[np.floor(rng.random(m) * np.maximum(cnt, 1)).astype(np.int64)]
            return _take(v.text, src[ok]), ok, fb
        if kind == "non_numeric":
            return (
                _pick(
                    rng,
                    [
                        pa.array(["#VALUE!"] * m, pa.string()),
                        pa.array(["unknown"] * m, pa.string()),
                        _join(x, "x"),
                        _join(x, ".5.1"),
                    ],
                ),
                ok,
                None,
            )
        if kind in ("negative_number", "out_of_range") and col.type in _NUMERIC:
            cand = self._numeric_fault(col, kind, np.asarray(v.typed)[rows], rng)
            c = cand
            text = _int_text(c) if col.type == ColumnType.integer else _money_text(np.round(c * 100))
            return text, ok, fb
        if kind == "bad_allowed_value":
            return self._bad_allowed(col, m, rng), ok, None
        if kind in ("impossible_date", "malformed_date", "future_date", "out_of_range"):
            return self._temporal_fault(col, kind, rows, vals, rng)
        if kind == "bad_boolean":
            return _take(["maybe", "2", "unknown", "yes please"], rng.integers(0, 4, m)), ok, None
        if kind == "bad_email":
            return (
                _pick(
                    rng,
                    [
                        pc.replace_substring(x, "@", ""),
                        pc.replace_substring(x, "@", " at "),
                        pc.replace_substring(x, "@", "@@"),
                        pc.replace_substring_regex(x, r"\.[A-Za-z]+$", ""),
                        pc.replace_substring_regex(x, "@.*$", "@"),
                    ],
                ),
                ok,
                None,
            )
        if kind == "bad_phone":
            a, e, l_ = (pc.utf8_slice_codeunits(x, s, s + w) for s, w in ((0, 3), (4, 3), (8, 4)))
            return (
                _pick(
                    rng,
                    [
                        _join(e, "-", l_),
                        _join(a, "-", e, "-", pc.utf8_slice_codeunits(l_, 0, 3)),
                        _join(a, "-", e, "-", l_, _int_text(rng.integers(0, 10, m))),
                    ],
                ),
                ok,
                None,
            )
        if kind in ("non_alphabetic", "non_alphanumeric"):
            chars = "0123456789@#" if kind == "non_alphabetic" else "#@!%&*"
            parts = [pc.utf8_replace_slice(x, 1, 2, ch) for ch in chars]
            return _pick(rng, parts), ok, None
        if kind == "bad_currency_code":
            return _take(["US$", "EURO", "DOLLARS", "12A", "E", "POUND"], rng.integers(0, 6, m)), ok, None
        if kind == "bad_uuid":
            return (
                _pick(
                    rng,
                    [
                        pc.utf8_slice_codeunits(x, 0, 35),
                        pc.utf8_replace_slice(x, 0, 1, "g"),
                        pc.replace_substring(x, "-", "", max_replacements=2),
                    ],
                ),
                ok,
                None,
            )
        if kind == "bad_pattern":
            return self._bad_pattern(col, x, rng, fb)
        if kind == "too_short":
            short = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(x, 0, col.min_length - 1))
            empty = np.asarray(pc.equal(pc.utf8_length(short), 0))
            return pc.if_else(pa.array(empty), "x", short), ok, None
        if kind == "too_long":
            target = col.max_length + 1 + rng.integers(0, 12, m)
            # letters and digits only: a cut can never end on a hyphen or apostrophe, so the
            # value breaks max_length and nothing else (e.g. an alphabetic format)
            base = pc.replace_substring_regex(x, "[^A-Za-z0-9]", "")
            base = pc.if_else(pc.equal(pc.utf8_length(base), 0), "x", base)
            lens = np.maximum(np.asarray(pc.utf8_length(base)), 1)
            rep = pc.binary_repeat(base, pa.array(target // lens + 1))
            out = [pc.utf8_slice_codeunits(rep, 0, int(t)) for t in np.unique(target)]
            sel = np.searchsorted(np.unique(target), target)
            return pa.concat_arrays(out).take(pa.array(sel * m + np.arange(m))), ok, None
        raise AssertionError(kind)  # pragma: no cover

    def _numeric_fault(self, col: Column, kind: str, typed: np.ndarray, rng) -> np.ndarray:
        m = len(typed)
        is_int = col.type == ColumnType.integer
        mag = np.maximum(np.abs(typed), 1 if is_int else 0.01)
        if kind == "negative_number":
            return -mag
        if col.max is not None:
            if is_int:
                extra = mag.astype(np.int64) if col.unique else rng.integers(1, max(2, int(abs(col.max)) + 1), m)
                return math.floor(col.max) + extra
            top = abs(col.max) if col.max else 1.0
            return np.floor((col.max + top * (0.5 + 9 * rng.random(m))) * 100) / 100 + 0.01
        lo = col.min
        if lo > 0:  # below a positive minimum, but not negative
            if is_int:
                return rng.integers(0, math.ceil(lo), m).astype(float)
            return np.floor(lo * 100 * rng.random(m)) / 100
        if is_int:
            return math.ceil(lo) - (mag.astype(np.int64) if col.unique else rng.integers(1, 100, m))
        return np.floor((lo - 1 - 100 * rng.random(m)) * 100) / 100

    def _bad_allowed(self, col: Column, m: int, rng) -> pa.Array:
        allowed = {str(a).strip().lower() for a in col.allowed_values}
        if col.type in _NUMERIC:
            nums = [float(a) for a in col.allowed_values]
            base = int(max(nums)) + 1
            return _int_text(base + rng.integers(0, 5, m))
        if col.type in _TEMPORAL:
            return _take(["1999-12-31", "2001-01-01", "2010-07-04"], rng.integers(0, 3, m))
        pool = CURRENCY_CODES if col.format == Format.currency_code else OTHER_STATUSES
        pool = [p for p in pool if p.lower() not in allowed] or ["not_allowed"]
        return self._apply_case(col, _take(pool, rng.integers(0, len(pool), m)))

    def _bad_pattern(self, col: Column, x: pa.Array, rng, fb):
        """Variants of the clean value that the pattern rejects even after cleaning: the
        injective ones first (unique columns stay unique), dropping a character last."""
        variants = [
            _join(x, "9"),
            pc.utf8_replace_slice(x, 1, 1, "-"),
            _join("#", x),
            pc.utf8_slice_codeunits(x, 0, -1),
        ]
        m = len(x)
        first = rng.integers(0, 3, m)
        chosen = np.full(m, -1)
        for step in range(len(variants)):
            vi_row = (first + step) % 3 if step < 3 else np.full(m, 3)
            for vi in np.unique(vi_row):
                sel = (chosen < 0) & (vi_row == vi)
                if not sel.any():
                    continue
                cand = pd.Series(variants[vi].filter(pa.array(sel)).to_pylist(), dtype=object)
                found = self._clean_text(col, cand).str.contains(col.pattern, regex=True)
                chosen[np.flatnonzero(sel)[~found.to_numpy(dtype=bool)]] = vi
        ok = chosen >= 0
        values = pa.concat_arrays(variants).take(pa.array(chosen[ok] * m + np.flatnonzero(ok)))
        return values, ok, fb

    def _clean_text(self, col: Column, s: pd.Series) -> pd.Series:
        if col.cleaning.trim:
            s = s.str.strip()
        if col.cleaning.collapse_whitespace:
            s = s.str.replace(r"\s+", " ", regex=True)
        if col.cleaning.case == Case.lower:
            s = s.str.lower()
        elif col.cleaning.case == Case.upper:
            s = s.str.upper()
        return s

    def _temporal_fault(self, col: Column, kind: str, rows: np.ndarray, vals, rng):
        v = vals[col.name]
        unit = v.unit
        m = len(rows)
        ok = np.ones(m, dtype=bool)
        fmt = self._formats(col)[0]
        typed = np.asarray(v.typed)[rows]
        if kind == "malformed_date":
            return (
                _take(
                    ["not a date", "TBD", "yesterday", "??/??/????", "see notes", "31st of never"],
                    rng.integers(0, 6, m),
                ),
                ok,
                None,
            )
        if kind == "impossible_date":
            secs = typed * _UNIT_SECONDS[unit]
            dt = secs.astype("datetime64[s]")
            year = dt.astype("datetime64[Y]").astype(np.int64) + 1970
            md = [
                ("02", "30"),
                ("02", "31"),
                ("04", "31"),
                ("06", "31"),
                ("09", "31"),
                ("11", "31"),
                ("13", "15"),
                ("00", "10"),
                ("07", "00"),
                ("12", "32"),
            ]
            pick = rng.integers(0, len(md), m)
            tod = secs % 86400
            parts = {
                "Y": _pad(year, 4),
                "y": _pad(year % 100, 2),
                "m": _take([a for a, _ in md], pick),
                "d": _take([b for _, b in md], pick),
                "H": _pad(tod // 3600, 2),
                "M": _pad(tod // 60 % 60, 2),
                "S": _pad(tod % 60, 2),
            }
            text = _fmt_parts(fmt, parts)
            if text is None:
                return None, np.zeros(m, dtype=bool), "malformed_date"
            return text, ok, None
        per_day = 86400 // _UNIT_SECONDS[unit]
        if kind == "future_date":
            lo = int(FUTURE_START.astype(np.int64)) * per_day
            lo_row, hi_row = np.full(m, lo), np.full(m, lo + 15 * 365 * per_day)
        else:  # out_of_range
            cmin, cmax = _parse_bound(col.min, unit), _parse_bound(col.max, unit)
            if cmin is not None:
                lo_row, hi_row = np.full(m, cmin - 3650 * per_day), np.full(m, cmin - 1)
            else:
                end = (int(END_DATE.astype(np.int64)) + 1) * per_day - 1
                lo_row, hi_row = np.full(m, cmax + 1), np.full(m, min(cmax + 365 * per_day, end))
        # keep column-vs-column rules satisfied, so the fault violates only its own rule
        for cmp in self.comparisons:
            if col.name not in (cmp.greater, cmp.lesser):
                continue
            other = cmp.lesser if col.name == cmp.greater else cmp.greater
            ov = vals[other]
            o_sec = np.asarray(ov.typed)[rows] * _UNIT_SECONDS[ov.unit]
            step = 1 if cmp.strict else 0
            if col.name == cmp.greater:
                lo_row = np.maximum(lo_row, -(-o_sec // _UNIT_SECONDS[unit]) + step)
            else:
                hi_row = np.minimum(hi_row, o_sec // _UNIT_SECONDS[unit] - step)
        ok = lo_row <= hi_row
        cand = lo_row + np.floor(rng.random(m) * (hi_row - lo_row + 1)).astype(np.int64)
        return _strftime(cand[ok], unit, fmt), ok, "malformed_date"

    def _rule_fault_window(self, cmp: _Comparison):
        """Common range of both columns, where a violating pair of valid values can be drawn."""
        g, l_ = self.cols[cmp.greater], self.cols[cmp.lesser]
        if g.type in _TEMPORAL:
            glo, ghi = self._range(g, "s")
            llo, lhi = self._range(l_, "s")
        else:
            glo, ghi = self._num_range(g)
            llo, lhi = self._num_range(l_)
        lo, hi = max(glo, llo), min(ghi, lhi)
        return (lo, hi) if hi - lo >= 2 * 86400 or (g.type in _NUMERIC and hi - lo > 1) else None

    def _num_range(self, col: Column) -> tuple[float, float]:
        lo = col.min if col.min is not None else 0.0
        hi = col.max if col.max is not None else lo + 10_000.0
        return float(lo), float(hi)

    def _fault_rule(self, cmp: _Comparison, rows: np.ndarray, vals, rng, edits) -> np.ndarray:
        """Swap the order of a valid pair (e.g. born after the account was created); both
        values stay inside their columns' ranges, so only the rule is violated."""
        lo, hi = self._rule_fault_window(cmp)
        m = len(rows)
        g, l_ = self.cols[cmp.greater], self.cols[cmp.lesser]
        out: dict[str, tuple] = {}
        if g.type in _TEMPORAL:
            lo_u, hi_u = lo // 86400 + 1, hi // 86400 - 1  # whole days inside the window
            a = lo_u + np.floor(rng.random(m) * (hi_u - lo_u)).astype(np.int64)
            b = a + 1 + np.floor(rng.random(m) * (hi_u - a)).astype(np.int64)
            for c, day in ((g, a), (l_, b)):  # the greater column gets the smaller value
                u = vals[c.name].unit
                typed = day * (86400 // _UNIT_SECONDS[u])
                out[c.name] = (typed, _strftime(typed, u, self._formats(c)[0]), u)
        else:
            a = lo + rng.random(m) * (hi - lo) / 2
            b = a + 1 + rng.random(m) * (hi - a - 1)
            for c, val in ((g, a), (l_, b)):
                if c.type == ColumnType.integer:
                    typed = np.floor(val).astype(np.int64)
                    text = _int_text(typed)
                else:
                    cents = np.round(val * 100).astype(np.int64)
                    typed, text = cents / 100, _money_text(cents)
                out[c.name] = (typed, text, None)
        subst = {name: self._typed_series(name, t, None, None, u) for name, (t, _, u) in out.items()}
        ok = self._rules_hold(rows, subst, vals, skip=cmp.rule_id)
        for name, (_, text, _) in out.items():
            edits.setdefault(name, []).append((rows[ok], text.filter(pa.array(ok))))
        return ok
