"""String columns of the builder: kinds (names, e-mails, phones, uuids, addresses, patterns), lengths, case, uniqueness."""

from __future__ import annotations

import math
import re
from re import _parser as _sre_parse  # the regex parser of Python 3.11+

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.contract import Case, Column, Format, PiiCategory
from dq_platform.demo.sample_data.arrow_text import (
    _apply_edits,
    _codes_to_strings,
    _crc,
    _digits,
    _int_text,
    _join,
    _pad,
    _table,
    _take,
    _weighted,
    _zipf_weights,
)
from dq_platform.demo.sample_data.patterns import _emit, _scramble, _Unsupported
from dq_platform.demo.sample_data.values import _tokens
from dq_platform.demo.sample_data.vocabularies import (
    AREA_CODES,
    CITIES,
    COMPANY_SUFFIXES,
    COUNTRY_CODES,
    CURRENCY_CODES,
    EMAIL_DOMAIN_WEIGHTS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_NAMES,
    STREET_SUFFIX_WEIGHTS,
    STREET_SUFFIXES,
    WORDS,
)


class _Strings:
    """Mixin of `_Builder`: how string columns are generated."""

    # strings ---------------------------------------------------------------------------
    def _string_kind(self, col: Column) -> str:
        t = _tokens(col.name)
        cat = col.pii.category if col.pii is not None else None
        if col.allowed_values:
            return "allowed"
        if col.pattern:
            return "pattern"
        if col.format == Format.email or cat == PiiCategory.email or "email" in t:
            return "email"
        if col.format == Format.phone or cat == PiiCategory.phone or t & {"phone", "mobile", "telephone"}:
            return "phone"
        if col.format == Format.currency_code or "currency" in t:
            return "currency"
        if col.format == Format.uuid or "uuid" in t:
            return "uuid"
        if cat == PiiCategory.address or "address" in t:
            return "address"
        if cat == PiiCategory.national_id or t & {"ssn"}:
            return "national_id"
        if cat == PiiCategory.name or ("name" in t and not t & {"company", "merchant", "product", "file"}):
            return "name"
        if col.format == Format.alphanumeric:
            return "code"
        if "city" in t:
            return "city"
        if "state" in t:
            return "state"
        if t & {"zip", "postal", "postcode", "zipcode"}:
            return "zip"
        if "country" in t:
            return "country"
        if t & {"company", "merchant", "vendor", "employer"}:
            return "company"
        if cat == PiiCategory.financial or t & {"iban", "account"}:
            return "digits"
        return "words"

    def _gen_string(self, col: Column, idx: np.ndarray, rng, vals) -> tuple[pa.Array, tuple | None]:
        n = len(idx)
        kind = self._string_kind(col)
        vocab = None
        if kind == "pattern":
            text = self._gen_pattern(col, idx, rng)
            if text is not None:
                return self._apply_case(col, text), None
            kind = "words"
        if kind == "email":
            text = self._gen_email(col, idx, rng, vals)
        elif kind == "phone":
            text = self._gen_phone(n, rng)
        elif kind == "currency":
            text = _take(CURRENCY_CODES, _weighted(rng, n, _zipf_weights(len(CURRENCY_CODES))))
        elif kind == "uuid":
            text = self._gen_uuid(n, rng)
        elif kind == "address":
            text = self._gen_address(n, rng)
        elif kind == "national_id":
            area = rng.integers(1, 900, n)
            area = np.where(area == 666, 667, area)
            text = _join(_pad(area, 3), "-", _pad(rng.integers(1, 100, n), 2), "-", _pad(rng.integers(1, 10000, n), 4))
        elif kind == "name":
            t = _tokens(col.name)
            names = self._name_cols()
            if col.name == names.get("first"):
                vocab, text = self._vocab_pick(col, FIRST_NAMES, n, rng)
            elif col.name == names.get("last") or t & {"surname"}:
                vocab, text = self._vocab_pick(col, LAST_NAMES, n, rng)
            else:
                _, f = self._vocab_pick(col, FIRST_NAMES, n, rng)
                _, l_ = self._vocab_pick(col, LAST_NAMES, n, rng)
                text = _join(f, " ", l_)
        elif kind == "code":
            lo = max(col.min_length or 8, 1)
            hi = max(lo, min(col.max_length or 12, lo + 6))
            count = rng.integers(lo, hi + 1, n)
            chars = np.asarray([ord(c) for c in "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"], dtype=np.uint32)
            mat = chars[rng.integers(0, len(chars), (n, hi))]
            mat[np.arange(hi)[None, :] >= count[:, None]] = 0
            text = _codes_to_strings(mat)
        elif kind == "city":
            text = _take([c for c, _, _ in CITIES], rng.integers(0, len(CITIES), n))
        elif kind == "state":
            text = _take([s for _, s, _ in CITIES], rng.integers(0, len(CITIES), n))
        elif kind == "zip":
            z = np.asarray([z for _, _, z in CITIES])[rng.integers(0, len(CITIES), n)] + rng.integers(0, 10, n)
            text = _pad(z, 5)
        elif kind == "country":
            text = _take(COUNTRY_CODES, _weighted(rng, n, _zipf_weights(len(COUNTRY_CODES), 1.2)))
        elif kind == "company":
            text = _join(
                _take(LAST_NAMES, rng.integers(0, len(LAST_NAMES), n)),
                " ",
                _take(COMPANY_SUFFIXES, rng.integers(0, len(COMPANY_SUFFIXES), n)),
            )
        elif kind == "digits":
            width = max(col.min_length or 10, 1)
            width = min(width, col.max_length or width)
            mat = rng.integers(48, 58, (n, width)).astype(np.uint32)
            mat[:, 0] = rng.integers(49, 58, n)
            text = _codes_to_strings(mat)
        else:
            text = self._gen_words(n, rng, 1 + rng.integers(0, 3, n), col.format == Format.alphabetic)
        if col.unique and kind not in ("uuid", "email"):
            text = self._make_unique(col, text, idx)
        if kind not in ("email", "phone", "currency", "uuid", "national_id", "zip", "country"):
            text = self._fit_length(col, text, rng)
        return self._apply_case(col, text), vocab

    def _vocab_pick(self, col, vocab: list[str], n: int, rng) -> tuple[tuple, pa.Array]:
        lo, hi = col.min_length or 0, col.max_length or 10**9
        usable = [w for w in vocab if lo <= len(w) <= hi] or vocab
        w = 1.0 / (np.arange(len(usable)) + 15.0)  # common names are more common
        i = _weighted(rng, n, w)
        return (tuple(usable), i), _take(usable, i)

    def _gen_words(self, n: int, rng, count: np.ndarray, letters_only: bool) -> pa.Array:
        words = [w for w in WORDS if w.isalpha()] if letters_only else WORDS
        out = _take(words, rng.integers(0, len(words), n))
        for j in range(1, int(count.max(initial=1))):
            more = _join(out, " ", _take(words, rng.integers(0, len(words), n)))
            out = pc.if_else(pa.array(count > j), more, out)
        return out

    def _fit_length(self, col: Column, text: pa.Array, rng) -> pa.Array:
        lo, hi = col.min_length, col.max_length
        n = len(text)
        if not (lo or hi) or n == 0:
            return text
        mm = pc.min_max(pc.utf8_length(text))
        if (not lo or mm["min"].as_py() >= lo) and (not hi or mm["max"].as_py() <= hi):
            return text
        if lo:
            for _ in range(40):
                short = np.asarray(pc.less(pc.utf8_length(text), lo).fill_null(False))
                if not short.any():
                    break
                more = _join(text, " ", self._gen_words(n, rng, np.ones(n, np.int64), True))
                text = pc.if_else(pa.array(short), more, text)
        if hi:
            text = pc.utf8_rtrim_whitespace(pc.utf8_slice_codeunits(text, 0, hi))
        if lo:
            text = pc.utf8_rpad(text, lo, padding="x")
        return text

    def _make_unique(self, col: Column, text: pa.Array, idx: np.ndarray) -> pa.Array:
        x = self.id_offset + idx + 1
        if col.format == Format.alphabetic:
            mat = np.zeros((len(x), 8), dtype=np.uint32)
            rem = x.copy()
            for j in range(7, -1, -1):
                mat[:, j] = np.where(rem > 0, 97 + rem % 26, 0)
                rem //= 26
            return _join(text, " ", pc.utf8_capitalize(_codes_to_strings(mat)))
        return _join(text, "-", _int_text(x))

    def _apply_case(self, col: Column, text: pa.Array) -> pa.Array:
        """Canonical values are already in the case cleaning produces (lower/upper)."""
        case = col.cleaning.case
        if case == Case.lower:
            return pc.utf8_lower(text)
        if case == Case.upper:
            return pc.utf8_upper(text)
        return text

    def _gen_pattern(self, col: Column, idx: np.ndarray, rng) -> pa.Array | None:
        n = len(idx)
        try:
            parsed = _sre_parse.parse(col.pattern)
            slots: list = []
            mat = _emit(list(parsed), n, rng, slots)
        except (_Unsupported, re.error, TypeError, ValueError) as e:
            self._warn(
                f"sample_data: column '{col.name}': pattern {col.pattern!r} not supported ({e}); "
                "generated values will not match it"
            )
            return None
        if col.unique and n:
            space = self.id_offset + int(idx.max()) + 1
            best = max(slots, key=lambda s: s[1], default=None)
            if best is not None and 10 ** min(best[1], 18) >= space:
                start, width = best
                v = _scramble(self.id_offset + idx, width, _crc(col.name))
                d = min(width, 12)
                for j in range(d):
                    mat[:, start + width - d + j] = 48 + (v // 10 ** (d - 1 - j)) % 10
            else:
                text = _codes_to_strings(mat)
                for _attempt in range(20):
                    dup = np.asarray(pd.Series(np.asarray(text, dtype=object)).duplicated())
                    if not dup.any():
                        return text
                    rows = np.flatnonzero(dup)
                    text = _apply_edits(text, [(rows, _codes_to_strings(_emit(list(parsed), len(rows), rng)))])
                raise ValueError(f"column '{col.name}': cannot generate {n} unique values for pattern {col.pattern!r}")
        text = _codes_to_strings(mat)
        sample = text.slice(0, min(n, 200)).to_pylist()
        if any(re.fullmatch(col.pattern, s) is None for s in sample):
            self._warn(f"sample_data: column '{col.name}': generated values do not match {col.pattern!r}")
        return text

    def _gen_email(self, col: Column, idx: np.ndarray, rng, vals) -> pa.Array:
        """first.last@gmail.com and friends, derived from the row's own names when the
        contract has name columns."""
        n = len(idx)
        names = self._name_cols()

        def source(which: str, vocab: list[str]) -> tuple[list[str], np.ndarray]:
            v = vals.get(names.get(which, ""))
            if v is not None and v.vocab is not None:
                words, i = v.vocab
            else:
                words, i = vocab, rng.integers(0, len(vocab), n)
            return [re.sub(r"[^a-z]", "", w.lower()) or "x" for w in words], i

        first, fi = source("first", FIRST_NAMES)
        last, li = source("last", LAST_NAMES)
        # one table: first names, initials, last names, "" (index -1)
        table = _table(first + [w[0] for w in first] + last + [""])
        F = len(first)
        variant = _weighted(rng, n, [40, 18, 12, 10, 8, 6, 6])
        #          first.last  flast  firstlast42  first_last  first42  last.first  first.last87
        p1 = np.where(variant == 1, F + fi, np.where(variant == 5, 2 * F + li, fi))
        p2 = np.select([variant == 4, variant == 5], [len(table) - 1, fi], 2 * F + li)
        seps = np.asarray([ord("."), 0, 0, ord("_"), 0, ord("."), ord(".")], dtype=np.uint8)[variant][:, None]
        num = rng.integers(1, 100, n)
        num = np.where(variant == 6, 60 + num % 40, num)
        numm = _digits(num, 2)
        numm[~np.isin(variant, (2, 4, 6))] = 0
        parts = [table[p1], seps, table[p2], numm]
        if col.unique:
            uniq = self.id_offset + idx + 1
            w = len(str(int(uniq.max(initial=1)))) + 1
            parts += [np.full((n, 1), ord("."), np.uint8), _digits(uniq, w)]
        dom = _table(["@" + d for d in EMAIL_DOMAINS])[_weighted(rng, n, EMAIL_DOMAIN_WEIGHTS)]
        return _codes_to_strings(np.concatenate(parts + [dom], axis=1))

    def _gen_phone(self, n: int, rng) -> pa.Array:
        """XXX-XXX-XXXX with a real area code and a valid exchange (not N11, not 555)."""
        area = np.asarray(AREA_CODES)[rng.integers(0, len(AREA_CODES), n)]
        exch = rng.integers(200, 1000, n)
        exch = np.where((exch % 100 == 11) | (exch == 555), exch + 1, exch)
        line = rng.integers(0, 10000, n)
        d3 = _digits(np.arange(1000), 3, pad=True)
        dash = np.full((n, 1), ord("-"), dtype=np.uint8)
        mat = np.concatenate([d3[area], dash, d3[exch], dash, _digits(np.arange(10000), 4, pad=True)[line]], axis=1)
        return _codes_to_strings(mat)

    def _gen_uuid(self, n: int, rng) -> pa.Array:
        b = rng.integers(0, 256, (n, 16), dtype=np.uint8)
        b[:, 6] = (b[:, 6] & 0x0F) | 0x40
        b[:, 8] = (b[:, 8] & 0x3F) | 0x80
        hexd = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
        h = np.empty((n, 32), dtype=np.uint8)
        h[:, 0::2] = hexd[b >> 4]
        h[:, 1::2] = hexd[b & 0x0F]
        dash = np.full((n, 1), ord("-"), dtype=np.uint8)
        mat = np.concatenate(
            [h[:, :8], dash, h[:, 8:12], dash, h[:, 12:16], dash, h[:, 16:20], dash, h[:, 20:]], axis=1
        )
        return _codes_to_strings(mat)

    def _gen_address(self, n: int, rng) -> pa.Array:
        """'123 Main St Apt 4B, Springfield, IL 62704': the city masking strategy splits on
        commas, so units go before the first comma."""
        number = np.exp(rng.uniform(0, math.log(9999), n)).astype(np.int64) + 1
        streets = _table([f" {a} {b}" for a in STREET_NAMES for b in STREET_SUFFIXES])
        street_i = rng.integers(0, len(STREET_NAMES), n) * len(STREET_SUFFIXES) + _weighted(
            rng, n, STREET_SUFFIX_WEIGHTS
        )
        unit_names = (
            [""]
            + [f" Apt {k}{x}" for k in range(1, 40) for x in ("", "A", "B", "C")]
            + [f" Unit {k}" for k in range(1, 40)]
            + [f" Ste {k * 10 + 100}" for k in range(1, 40)]
        )
        unit_kind = _weighted(rng, n, [88, 7, 3, 2])
        k = rng.integers(0, 39, n)
        unit_i = np.select(
            [unit_kind == 1, unit_kind == 2, unit_kind == 3],
            [1 + 4 * k + rng.integers(0, 4, n), 1 + 156 + k, 1 + 195 + k],
            0,
        )
        city_i = rng.integers(0, len(CITIES), n)
        places = _table([f", {c}, {st} " for c, st, _ in CITIES])
        zips = np.asarray([z for _, _, z in CITIES])[city_i] + rng.integers(0, 10, n)
        mat = np.concatenate(
            [
                _digits(number, 5),
                streets[street_i],
                _table(unit_names)[unit_i],
                places[city_i],
                _digits(np.arange(100000), 5, pad=True)[zips],
            ],
            axis=1,
        )
        return _codes_to_strings(mat)
