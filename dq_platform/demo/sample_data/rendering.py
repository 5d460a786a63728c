"""How clean values are written: natural nulls (and null tokens), cosmetic dirt a cleaner must undo."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, ColumnType
from dq_platform.demo.sample_data.arrow_text import _join, _pick, _strftime, _take
from dq_platform.demo.sample_data.values import _TEMPORAL, _Val
from dq_platform.demo.sample_data.world import COSMETIC_SHARE, NULL_TOKEN_SHARE


class _Rendering:
    """Mixin of `_Builder`: nulls and cosmetics."""

    # -- natural nulls -------------------------------------------------------------------
    def _null_tokens(self) -> list[str]:
        return [t for t in self.contract.source.null_values if t.strip()]

    def _render_nulls(self, vals: dict[str, _Val]) -> dict[str, list]:
        rng = self.rng("nulls")
        tokens = self._null_tokens()
        out: dict[str, list] = {}
        for name, v in vals.items():
            rows = np.flatnonzero(v.null)
            if not len(rows):
                continue
            as_token = rng.random(len(rows)) < (NULL_TOKEN_SHARE if tokens else 0)
            edits = [(rows[~as_token], None)]
            if as_token.any():
                edits.append((rows[as_token], _take(tokens, rng.integers(0, len(tokens), int(as_token.sum())))))
            out[name] = edits
        return out

    # -- cosmetics -----------------------------------------------------------------------
    def _cosmetic_transforms(self, col: Column, v: _Val) -> list[Callable]:
        t: list[Callable] = []
        if col.cleaning.trim:
            t.append(self._cos_whitespace)
        if col.type == ColumnType.string and col.cleaning.case != Case.keep:
            t.append(self._cos_case)
        if (
            col.type == ColumnType.string
            and col.cleaning.collapse_whitespace
            and self._string_kind(col) in ("address", "name", "words", "company")
        ):
            t.append(self._cos_double_space)
        if col.type == ColumnType.string and self._string_kind(col) == "phone":
            t += [self._cos_phone] * 3
        if col.type in _TEMPORAL and len(self._formats(col)) > 1 and not col.allowed_values:
            t += [self._cos_date] * 3
        return t

    def _cosmetics(self, vals: dict[str, _Val], faulty: np.ndarray) -> dict[str, list]:
        rng = self.rng("cosmetic")
        capable = [(name, tr) for name in self.cols if (tr := self._cosmetic_transforms(self.cols[name], vals[name]))]
        out: dict[str, list] = {}
        if not capable or self.n == 0:
            return out
        clean = np.flatnonzero(~faulty)
        dirty = clean[rng.random(len(clean)) < COSMETIC_SHARE]
        which = rng.integers(0, len(capable), len(dirty))
        for ci, (name, transforms) in enumerate(capable):
            v = vals[name]
            rows = dirty[which == ci]
            rows = rows[~v.null[rows]]
            t_pick = rng.integers(0, len(transforms), len(rows))
            for ti in np.unique(t_pick):
                sub = rows[t_pick == ti]
                new = transforms[ti](self.cols[name], v, sub, rng)
                out.setdefault(name, []).append((sub, new))
        return out

    def _cos_whitespace(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        return _pick(rng, [_join(" ", x), _join(x, " "), _join("  ", x, "  "), _join(x, "   ")])

    def _cos_case(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        options = {
            Case.lower: [pc.utf8_upper, pc.utf8_title],
            Case.upper: [pc.utf8_lower, pc.utf8_title],
            Case.title: [pc.utf8_upper, pc.utf8_lower],
        }[col.cleaning.case]
        return _pick(rng, [f(x) for f in options])

    def _cos_double_space(self, col, v, rows, rng) -> pa.Array:
        return pc.replace_substring(_take(v.text, rows), " ", "  ", max_replacements=1)

    def _cos_phone(self, col, v, rows, rng) -> pa.Array:
        x = _take(v.text, rows)
        a, e, l_ = (pc.utf8_slice_codeunits(x, s, s + w) for s, w in ((0, 3), (4, 3), (8, 4)))
        return _pick(
            rng,
            [
                _join("(", a, ") ", e, "-", l_),
                _join(a, ".", e, ".", l_),
                _join("+1 ", a, " ", e, " ", l_),
                _join(a, e, l_),
                _join("1-", a, "-", e, "-", l_),
                _join(a, " ", e, " ", l_),
            ],
        )

    def _cos_date(self, col, v, rows, rng) -> pa.Array:
        alts = self._formats(col)[1:]
        typed = np.asarray(v.typed)[rows]
        return _pick(rng, [_strftime(typed, v.unit, f) for f in alts])
