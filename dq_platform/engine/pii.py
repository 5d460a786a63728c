"""Vectorized PII detection for the blocking "no PII in the masked output" gate.

Why it looks the way it does:
- Every pattern runs through Arrow's RE2 engine (``pyarrow.compute``), which is vectorized C++;
  pandas' ``str.extract`` is a per-row Python loop. The patterns therefore avoid look-arounds and
  back-references (RE2 has none) and spell word boundaries as explicit ASCII classes, so they
  behave the same whatever pandas version or string storage is installed.
- Checksummed kinds (card: Luhn, IBAN: ISO 13616 mod-97) first find regex candidates, then check
  them with numpy over a fixed-width digit matrix: no Python loop over values.
- Addresses in RFC 2606 reserved TLDs (.invalid, .test, .example, .localhost) are removed before
  anything is scanned: they can never reach a person, and that is how masked emails
  (``<hex>@masked.invalid``) stay legal — including hex local parts that happen to be all digits,
  which would otherwise look like card numbers.
- Results are counts and row positions only. Nothing here returns a raw value, so the output can go
  into Dagster check metadata, logs and alerts.
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
from dq_platform.engine.strings import canonical_strings

__all__ = ["KINDS", "PiiScan", "iban_valid", "luhn_valid", "raw_value_echo", "scan_frame", "scrub_text", "shape_of"]

KINDS = ("email", "phone", "ssn", "card", "iban", "ipv4", "ipv6")

# Explicit ASCII word boundaries (consumed, not zero-width: RE2 has no look-around).
_B = r"(?:^|[^0-9A-Za-z_])"
_E = r"(?:[^0-9A-Za-z_]|$)"

_RESERVED_EMAIL_CORE = r"[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9\-]+\.)+(?i:invalid|test|example|localhost)\.?"
_RESERVED_EMAIL = _RESERVED_EMAIL_CORE + r"(?:[^A-Za-z0-9.\-]|$)"
_ONLY_RESERVED_EMAIL = r"^[ \t]*" + _RESERVED_EMAIL_CORE + r"[ \t]*$"
_EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
# North-American numbers: area code and exchange start with 2-9; optional +1 / 1 prefix.
_PHONE = (
    r"(?:\([2-9][0-9]{2}\)[-. ]?|" + _B + r"(?:\+?1[-. ]?)?(?:\([2-9][0-9]{2}\)[-. ]?|[2-9][0-9]{2}[-. ]?))"
    r"[2-9][0-9]{2}[-. ]?[0-9]{4}" + _E
)
# AAA-GG-SSSS; area not 000, 666 or 9xx; group not 00; serial not 0000.
_SSN = (
    _B + r"(?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-5][0-9]|66[0-57-9]|6[7-9][0-9]|[78][0-9]{2})"
    r"-(?:0[1-9]|[1-9][0-9])-(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})" + _E
)
_CARD = _B + r"(?P<c>[0-9](?:[ \-]?[0-9]){12,18})" + _E
# Upper-case only on purpose: lower-case hex tokens would otherwise be candidates.
_IBAN = _B + r"(?P<c>[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?))" + _E
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4_CORE = _OCTET + r"(?:\." + _OCTET + r"){3}"
# "." is not a boundary for IPv4, so "1.2.3.4.5" (a version string) is not an address.
_IPV4 = r"(?:^|[^0-9A-Za-z_.])" + _IPV4_CORE + r"(?:[^0-9A-Za-z_.]|\.(?:[^0-9]|$)|$)"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6_CORE = "|".join(
    [
        rf"(?:{_H}:){{7}}{_H}",
        rf"(?:{_H}:){{1,7}}:",
        rf"(?:{_H}:){{1,6}}:{_H}",
        rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        rf"{_H}:(?::{_H}){{1,6}}",
        rf":(?::{_H}){{1,7}}",  # ::1, ::ffff (bare "::" is not reported)
        r"(?i:fe80):(?::[0-9A-Fa-f]{0,4}){0,4}%[0-9A-Za-z]+",
        rf"::(?:(?i:ffff)(?::0{{1,4}})?:)?{_IPV4_CORE}",
        rf"(?:{_H}:){{1,4}}:{_IPV4_CORE}",
    ]
)
_IPV6 = r"(?:^|[^0-9A-Za-z_:.])(?:" + _IPV6_CORE + r")(?:[^0-9A-Za-z_:]|$)"

_PLAIN_PATTERNS = {"email": _EMAIL, "phone": _PHONE, "ssn": _SSN, "ipv4": _IPV4, "ipv6": _IPV6}
# every pattern at once (card/IBAN as bare candidates): a cheap first pass over the whole column
_ANY = "|".join(f"(?:{p})" for p in [*_PLAIN_PATTERNS.values(), _CARD.replace("?P<c>", ""), _IBAN.replace("?P<c>", "")])


# -- checksums, vectorized ------------------------------------------------------------------


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


def _card_check(candidates: pa.Array) -> np.ndarray:
    digits = pc.replace_substring_regex(candidates, "[^0-9]", "")
    length = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
    return ((length >= 13) & (length <= 19)) & luhn_valid(digits)


def _iban_check(candidates: pa.Array) -> np.ndarray:
    return iban_valid(pc.replace_substring_regex(candidates, " ", ""))


def _bools(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _checksum_hits(text: pa.Array, pattern: str, check) -> np.ndarray:
    """Rows with at least one candidate passing ``check``.

    Each round extracts the leftmost candidate of the rows still undecided, checks all of them at
    once, then blanks that candidate out; rounds = the most candidates any single value holds.
    """
    hits = np.zeros(len(text), dtype=bool)
    rows = np.flatnonzero(_bools(pc.match_substring_regex(text, pattern)))
    rest = text.take(pa.array(rows, type=pa.int64()))
    while len(rows):
        found = pc.struct_field(pc.extract_regex(rest, pattern), [0])
        has = _bools(pc.is_valid(found))
        ok = np.zeros(len(rows), dtype=bool)
        if has.any():
            ok[has] = check(found.filter(pa.array(has)))
        hits[rows[ok]] = True
        undecided = has & ~ok
        rows = rows[undecided]
        rest = pc.replace_substring_regex(rest.filter(pa.array(undecided)), pattern, "|", max_replacements=1)
    return hits


# -- scanning ---------------------------------------------------------------------------------


def _scannable(df: pd.DataFrame, columns: Iterable[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    return [c for c in df.columns if pd.api.types.is_string_dtype(df[c].dtype) or df[c].dtype == object]


def _without_reserved_emails(text: pa.Array) -> pa.Array:
    """Blank out addresses in reserved TLDs. Only rows with an "@" pay for the regex, and values
    that are nothing but such an address (every masked email) are blanked without a rewrite."""
    has_at = _bools(pc.match_substring(text, "@"))
    if not has_at.any():
        return text
    subset = text.filter(pa.array(has_at))
    only = _bools(pc.match_substring_regex(subset, _ONLY_RESERVED_EMAIL))
    rewritten = subset if only.all() else pc.replace_substring_regex(subset, _RESERVED_EMAIL, " ")
    subset = pc.if_else(pa.array(only), pa.scalar("", pa.large_string()), rewritten)
    # scatter back: row i with an "@" takes subset[its rank among such rows]; others keep their text
    rank = np.maximum(np.cumsum(has_at) - 1, 0)
    return pc.if_else(pa.array(has_at), subset.take(pa.array(rank)), text)


def _hit_masks(series: pd.Series) -> dict[str, np.ndarray]:
    """kind -> boolean row mask for one column (reserved-TLD addresses removed first).

    One pass of the union of all patterns finds the (in masked output: zero) rows worth a closer
    look; the per-kind patterns and checksums then run on those rows only.
    """
    if len(series) == 0:
        return {}
    text = _without_reserved_emails(arrow_strings(series))
    rows = np.flatnonzero(_bools(pc.match_substring_regex(text, _ANY)))
    if len(rows) == 0:
        return {}
    subset = text.take(pa.array(rows))
    sub = {kind: _bools(pc.match_substring_regex(subset, pattern)) for kind, pattern in _PLAIN_PATTERNS.items()}
    sub["card"] = _checksum_hits(subset, _CARD, _card_check)
    sub["iban"] = _checksum_hits(subset, _IBAN, _iban_check)
    masks = {}
    for kind in KINDS:
        if sub[kind].any():
            mask = np.zeros(len(text), dtype=bool)
            mask[rows[sub[kind]]] = True
            masks[kind] = mask
    return masks


def scan_frame(df: pd.DataFrame, columns: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """{column: {kind: number of values containing that kind}} — only non-zero entries appear,
    so an empty dict means nothing was found. Scans string/object columns unless told which."""
    names = _scannable(df, columns)
    counts = map_columns(
        lambda col: {kind: int(mask.sum()) for kind, mask in _hit_masks(df[col]).items()}, names, rows=len(df)
    )
    return {col: found for col, found in zip(names, counts) if found}


# -- scrubbing free text (the `scrub` masking strategy) ------------------------------------------

_PHONE_CORE = (
    r"(?:\([2-9][0-9]{2}\)[-. ]?|(?:\+?1[-. ]?)?(?:\([2-9][0-9]{2}\)[-. ]?|[2-9][0-9]{2}[-. ]?))"
    r"[2-9][0-9]{2}[-. ]?[0-9]{4}"
)
_SSN_CORE = _SSN.removeprefix(_B).removesuffix(_E)
# (boundary before)(value)(boundary after) -> \1[kind]\2: the boundaries the gate's patterns consume are kept
_SCRUB = [
    ("ipv6", r"(^|[^0-9A-Za-z_:.])(?:" + _IPV6_CORE + r")([^0-9A-Za-z_:]|$)"),
    ("ipv4", r"(^|[^0-9A-Za-z_.])" + _IPV4_CORE + r"((?:[^0-9A-Za-z_.]|\.(?:[^0-9]|$)|$))"),
    ("ssn", r"(^|[^0-9A-Za-z_])" + _SSN_CORE + r"([^0-9A-Za-z_]|$)"),
    ("phone", r"(^|[^0-9A-Za-z_])" + _PHONE_CORE + r"([^0-9A-Za-z_]|$)"),
]
_SCRUB_CHECKSUMMED = [("iban", _IBAN, _iban_check), ("card", _CARD, _card_check)]
_SCRUB_ROUNDS = 4


def scrub_text(series: pd.Series) -> pd.Series:
    """Free text with every value the PII gate would flag replaced by a marker: "[email]", "[phone]",
    "[ssn]", "[card]", "[iban]", "[ipv4]", "[ipv6]"; the rest of the text is kept.

    Same patterns as the gate (cards and IBANs only where their checksum holds), vectorized over the
    rows holding a candidate. Matches that shared a boundary character with the previous one are
    caught by another round; a value still flagged after that is replaced whole by "[REDACTED]",
    so the gate passes on scrubbed text by construction. Names are not patterns: a free-text column
    that can hold names needs `redact`.
    """
    if len(series) == 0:
        return series.astype("string")
    text = arrow_strings(series)
    rows = np.flatnonzero(_bools(pc.match_substring_regex(text, _ANY)))
    if len(rows) == 0:
        return pd.Series(pd.arrays.ArrowStringArray(text), index=series.index, name=series.name)
    sub = text.take(pa.array(rows))
    sub = pc.replace_substring_regex(sub, _EMAIL, "[email]")
    for _ in range(_SCRUB_ROUNDS):
        for kind, pattern in _SCRUB:
            sub = pc.replace_substring_regex(sub, pattern, "\\1[" + kind + "]\\2")
        for kind, pattern, check in _SCRUB_CHECKSUMMED:
            flagged = _checksum_hits(sub, pattern, check)
            if flagged.any():  # in those rows every candidate goes, valid or not
                core = pattern.replace("?P<c>", "").removeprefix(_B).removesuffix(_E)
                fixed = pc.replace_substring_regex(
                    sub.filter(pa.array(flagged)), f"({_B[3:-1]})?{core}({_E[3:-1]})?", "\\1[" + kind + "]\\3"
                )  # group 2: the candidate
                sub = _scatter(sub, flagged, fixed)
        left = pd.Series(pd.arrays.ArrowStringArray(sub))
        if not _hit_masks(left):
            break
    still = np.zeros(len(sub), dtype=bool)
    for mask in _hit_masks(pd.Series(pd.arrays.ArrowStringArray(sub))).values():
        still |= mask
    if still.any():
        sub = pc.if_else(pa.array(still), pa.scalar("[REDACTED]", sub.type), sub)
    out = np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)
    out[rows] = np.asarray(sub.to_numpy(zero_copy_only=False), dtype=object)
    return pd.Series(out, index=series.index, name=series.name, dtype="string")


def _scatter(base: pa.Array, mask: np.ndarray, values: pa.Array) -> pa.Array:
    """base with the rows where mask is true replaced, in order, by values."""
    rank = np.maximum(np.cumsum(mask) - 1, 0)
    return pc.if_else(pa.array(mask), values.take(pa.array(rank)), base)


def shape_of(values: pd.Series, max_len: int = 32) -> list[str]:
    """Shape of values without their content: digits -> "9", letters -> "x"/"X", punctuation
    kept, cut at ``max_len`` ("jane.doe@mail.com" -> "xxxx.xxx@xxxx.xxx")."""
    arr = arrow_strings(values)
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
            masks = _hit_masks(df[col])
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
        return int(_bools(hit).sum())

    counts = map_columns(echoes, names, rows=len(masked))
    return {name: n for name, n in zip(names, counts) if n}
