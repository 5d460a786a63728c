"""Validation of card, IBAN and SSN candidates: vectorized over all candidates at once.

- Cards: a real issuer range with its lengths (patterns.CARD_ISSUERS) and the Luhn checksum, both
  over the digits of every candidate at once (an RE2 pass, then numpy over a digit matrix).
- IBANs: ISO 13616 mod-97 over all candidates in numpy, then each registry country's length and
  BBAN format (python-stdnum's copy of the SWIFT registry, compiled to one RE2 pattern), so a hash
  or an id that happens to pass mod-97 is still refused; python-stdnum's own validation for the
  countries with national check digits (BE, ES, ME, NO).
- SSNs: the Social Security Administration's rules (area, group, serial) as one RE2 pattern.
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from stdnum import iban as stdnum_iban

from dq_platform.engine.pii.patterns import CARD_DIGITS, SSN_DIGITS

__all__ = ["bools", "card_ok", "iban_ok", "iban_valid", "luhn_valid", "ssn_ok"]


def bools(arr) -> np.ndarray:
    """An Arrow boolean array as numpy, nulls as False."""
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _byte_matrix(arr: pa.Array, width: int) -> np.ndarray:
    """ASCII strings -> (n, width) uint8 matrix, left-aligned, zero-padded."""
    raw = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object).astype(f"S{width}")
    return raw.view(np.uint8).reshape(len(raw), width)


def luhn_valid(digit_strings: pa.Array) -> np.ndarray:
    """Luhn checksum over strings of 1-19 ASCII digits, vectorized over a digit matrix."""
    n = len(digit_strings)
    if n == 0:
        return np.zeros(0, dtype=bool)
    mat = _byte_matrix(digit_strings, 19).astype(np.int64)
    length = (mat != 0).sum(axis=1)
    digits = np.where(mat != 0, mat - ord("0"), 0)
    pos_from_right = length[:, None] - 1 - np.arange(19)[None, :]
    double = (pos_from_right >= 0) & (pos_from_right % 2 == 1)
    doubled = digits * 2
    digits = np.where(double, np.where(doubled > 9, doubled - 9, doubled), digits)
    return digits.sum(axis=1) % 10 == 0


def iban_valid(ibans: pa.Array) -> np.ndarray:
    """ISO 13616 mod-97 == 1 over upper-case IBAN strings without spaces, vectorized.

    The first four characters move to the end; letters count as two digits (A=10 ... Z=35). The
    remainder is folded column by column (<= 34 columns), across all candidates at once.
    """
    n = len(ibans)
    if n == 0:
        return np.zeros(0, dtype=bool)
    mat = _byte_matrix(ibans, 34).astype(np.int64)
    length = (mat != 0).sum(axis=1)
    is_digit = (mat >= ord("0")) & (mat <= ord("9"))
    value = np.where(is_digit, mat - ord("0"), mat - ord("A") + 10)
    scale = np.where(is_digit, 10, 100)
    r = np.zeros(n, dtype=np.int64)
    for j in list(range(4, 34)) + [0, 1, 2, 3]:
        live = j < length
        r = np.where(live, (r * scale[:, j] + value[:, j]) % 97, r)
    return (r == 1) & (length >= 15) & (length <= 34)


def digits_of(candidates: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(candidates, "[^0-9]", "")


def card_ok(candidates: pa.Array) -> np.ndarray:
    """Issuer range + length, then Luhn on those only."""
    digits = digits_of(candidates)
    ok = bools(pc.match_substring_regex(digits, CARD_DIGITS))
    if ok.any():
        ok[ok] = luhn_valid(digits.filter(pa.array(ok)))
    return ok


def _registry_pattern() -> tuple[str, str]:
    """(every registry country's IBAN format as one RE2 pattern, countries with national check digits).

    From python-stdnum's copy of the SWIFT IBAN registry ("DE": "8!n10!n" -> DE[0-9]{2}[0-9]{8}[0-9]{10}).
    """
    chars = {"n": "[0-9]", "a": "[A-Z]", "c": "[A-Z0-9]"}
    forms, national = [], []
    for entry in stdnum_iban._ibandb.prefixes:
        country, props = entry[1], entry[3]
        if len(country) != 2 or "bban" not in props:
            continue
        bban = "".join(f"{chars[k]}{{{n}}}" for n, k in re.findall(r"(\d+)!([nac])", props["bban"]))
        forms.append(f"{country}[0-9]{{2}}{bban}")
        if stdnum_iban._get_cc_module(country):
            national.append(country)
    return "^(?:" + "|".join(forms) + ")$", "^(?:" + "|".join(national) + ")"


_IBAN_FORMATS, _NATIONAL_CHECKS = _registry_pattern()


def iban_ok(candidates: pa.Array) -> np.ndarray:
    """mod-97 (numpy) and the registry country's length and format (one RE2 pass), for all at once;
    python-stdnum's full validation only for the few countries with national check digits."""
    compact = pc.utf8_upper(pc.replace_substring_regex(candidates, "[ \\-]", ""))
    ok = iban_valid(compact)
    if ok.any():
        ok[ok] = bools(pc.match_substring_regex(compact.filter(pa.array(ok)), _IBAN_FORMATS))
    national = ok & bools(pc.match_substring_regex(compact, _NATIONAL_CHECKS))
    if national.any():  # BE, ES, ME, NO: a handful per column
        ok[national] = [stdnum_iban.is_valid(v) for v in compact.filter(pa.array(national)).to_pylist()]
    return ok


def ssn_ok(candidates: pa.Array) -> np.ndarray:
    return bools(pc.match_substring_regex(digits_of(candidates), SSN_DIGITS))
