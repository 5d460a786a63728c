"""Deterministic, keyed PII masking for the masked (GDPR-safe) layer — vectorized.

Why keyed and deterministic: a masked value must be stable across runs and datasets so joins and
group-bys still work (customers.customer_id joins sales_transactions.customer_id after masking),
yet nobody without the key can recompute a token from a guessed raw value (a plain hash of an
email or a phone number is reversible by enumeration).

How, and why this way:
- The secret comes from ``DQ_MASKING_KEY`` (see :func:`resolve_masking_key`).
- Per key domain (``column.pii.key_domain or column.name``) two 16-character SipHash keys are
  derived once with ``HMAC-SHA256(secret, b"dq-platform/mask/v1/" + domain)``. Equal inputs in
  two columns with the same key domain give equal tokens; different domains give unrelated ones.
- Tokens are computed with pandas' vectorized keyed SipHash-2-4 (``pandas.util.hash_array``),
  twice (one per derived key) for up to 128 bits. HMAC per value in a Python loop costs ~4 s per
  million values; this path costs a fraction of a second.
- Hashing runs on the unique values only (``pd.factorize``) and is mapped back with the codes.
- Values are hashed in a canonical string form (engine/strings.py), so integer 42, float 42.0 and
  the string "42" give the same token (a join key typed differently in two datasets still joins);
  nulls stay null.

The development key (:data:`DEV_MASKING_KEY`) is public, written here on purpose: masked output
produced with it is NOT protected and is only meant for the local demo.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
import logging
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.util import hash_array

from dq_platform import settings
from dq_platform.contract import Column, Contract, MaskingStrategy
from dq_platform.engine.cleaning import arrow_strings
from dq_platform.engine.parallel import map_columns
from dq_platform.engine.pii import scrub_text
from dq_platform.engine.strings import canonical_codes

__all__ = [
    "DEV_MASKING_KEY",
    "ENV_VAR",
    "MASKED_EMAIL_DOMAIN",
    "MIN_KEY_LENGTH",
    "MaskingKey",
    "MaskingKeyError",
    "REDACTED",
    "UNKNOWN",
    "age_band_labels",
    "mask_frame",
    "mask_series",
    "resolve_masking_key",
]

log = logging.getLogger(__name__)

ENV_VAR = "DQ_MASKING_KEY"
MIN_KEY_LENGTH = 16
# Public, documented, deliberately not secret: used only when the demo passes allow_dev_key=True.
DEV_MASKING_KEY = "dq-platform-INSECURE-dev-masking-key-v1"
_DERIVATION_PREFIX = b"dq-platform/mask/v1/"

REDACTED = "[REDACTED]"
UNKNOWN = "[UNKNOWN]"  # city/postcode strategies when the value has no recognizable structure
MASKED_EMAIL_DOMAIN = "masked.invalid"  # RFC 2606 reserved TLD: never a deliverable address


class MaskingKeyError(ValueError):
    """No usable masking key; the message says how to provide one and never contains a secret."""


class MaskingKey:
    """The masking secret. repr/str never show it, so it cannot leak into logs or metadata."""

    __slots__ = ("_secret", "_is_dev", "_domain_keys")

    def __init__(self, secret: bytes | str, *, is_dev: bool = False) -> None:
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if not isinstance(secret, (bytes, bytearray)) or not secret:
            raise MaskingKeyError("a masking key needs a non-empty secret")
        self._secret = bytes(secret)
        self._is_dev = is_dev
        self._domain_keys: dict[str, tuple[str, str]] = {}

    @property
    def is_dev(self) -> bool:
        """True for the public development key: output masked with it is not protected."""
        return self._is_dev

    def domain_keys(self, domain: str) -> tuple[str, str]:
        """Two 16-char SipHash keys for a key domain, derived once with HMAC-SHA256.

        Each derived byte is folded to 7 bits so the key is 16 ASCII characters: pandas encodes
        the key as UTF-8 and needs exactly 16 bytes (112 key bits per half).
        """
        keys = self._domain_keys.get(domain)
        if keys is None:
            digest = hmac.new(self._secret, _DERIVATION_PREFIX + domain.encode("utf-8"), hashlib.sha256).digest()
            keys = tuple("".join(chr(b & 0x7F) for b in digest[i : i + 16]) for i in (0, 16))
            self._domain_keys[domain] = keys
        return keys

    def __repr__(self) -> str:
        return "MaskingKey(<development key, NOT secret>)" if self._is_dev else "MaskingKey(<secret>)"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would copy the secret into run storage / IO managers: refuse.
        raise TypeError("MaskingKey cannot be pickled; resolve it where it is used")

    def __copy__(self) -> MaskingKey:
        return self  # immutable; copying must not go through (refused) pickling

    def __deepcopy__(self, memo) -> MaskingKey:
        return self


def resolve_masking_key(allow_dev_key: bool = False, environ: Mapping[str, str] | None = None) -> MaskingKey:
    """The key from ``DQ_MASKING_KEY`` (or `environ`); the public dev key only when explicitly allowed (demo)."""
    value = settings.get(ENV_VAR) if environ is None else environ.get(ENV_VAR)
    if value:
        if len(value) < MIN_KEY_LENGTH:
            raise MaskingKeyError(
                f"{ENV_VAR} is set but too short ({len(value)} characters); it must be at least "
                f'{MIN_KEY_LENGTH} characters, e.g. the output of `python -c "import secrets; '
                f'print(secrets.token_urlsafe(32))"`'
            )
        return MaskingKey(value)
    if allow_dev_key:
        msg = (
            f"{ENV_VAR} is not set: masking with the PUBLIC development key. Masked data is NOT "
            f"protected (anyone can recompute the tokens). Set {ENV_VAR} for any real data."
        )
        log.warning(msg)
        warnings.warn(msg, UserWarning, stacklevel=2)
        return MaskingKey(DEV_MASKING_KEY, is_dev=True)
    raise MaskingKeyError(
        f"{ENV_VAR} is not set. PII masking needs a secret key of at least {MIN_KEY_LENGTH} "
        f"characters: set {ENV_VAR} in the environment of the Dagster code location (keep it in "
        f"your secret store; changing it changes every token)."
    )


# -- vectorized output builders ------------------------------------------------------------

# 256 byte values -> their two lower-case hex characters, as one little-endian uint16 each
_HEX2 = np.array([int.from_bytes(f"{i:02x}".encode(), "little") for i in range(256)], dtype="<u2")


def _hex(h: np.ndarray) -> np.ndarray:
    """uint64 array -> (n, 16) uint8 matrix of its big-endian lower-case hex characters."""
    b = np.ascontiguousarray(h, dtype=">u8").view(np.uint8).reshape(-1, 8)
    return _HEX2[b].view(np.uint8).reshape(-1, 16)


def _const(text: str, n: int) -> np.ndarray:
    return np.broadcast_to(np.frombuffer(text.encode("ascii"), dtype=np.uint8), (n, len(text)))


def _fixed_width(parts: list[np.ndarray]) -> pd.api.extensions.ExtensionArray:
    """Concatenate (n, w_i) ASCII byte matrices into a pandas "string" array without a loop."""
    mat = np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.uint8)
    n, w = mat.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int64)
    arr = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(mat)])
    return pd.array(arr, dtype="string")


def _hashes(canon: np.ndarray, key: MaskingKey, domain: str, halves: int = 2) -> list[np.ndarray]:
    """``halves`` 64-bit keyed SipHash-2-4 values per canonical string (one per derived key)."""
    keys = key.domain_keys(domain)[:halves]
    if len(canon) == 0:
        return [np.empty(0, dtype=np.uint64) for _ in keys]
    return [hash_array(canon, hash_key=k, categorize=False) for k in keys]


def _token_digits(h: np.ndarray, count: int) -> np.ndarray:
    """(n, count) ASCII decimal digits taken from the low decimal places of a uint64 hash."""
    powers = np.uint64(10) ** np.arange(count, dtype=np.uint64)
    return ((h[:, None] // powers) % np.uint64(10)).astype(np.uint8) + ord("0")


def _to_series(arr, codes: np.ndarray, like: pd.Series) -> pd.Series:
    return pd.Series(arr.take(codes, allow_fill=True), index=like.index, name=like.name)


def _mask_token(series: pd.Series, column: Column, key: MaskingKey) -> pd.Series:
    codes, canon = canonical_codes(series)
    h1, h2 = _hashes(canon, key, _domain(column))
    n = len(canon)
    out = _fixed_width([_const("tk_", n), _hex(h1), _hex(h2)[:, :8]])
    return _to_series(out, codes, series)


def _mask_email(series: pd.Series, column: Column, key: MaskingKey) -> pd.Series:
    codes, canon = canonical_codes(series)
    (h1,) = _hashes(canon, key, _domain(column), halves=1)
    out = _fixed_width([_hex(h1), _const("@" + MASKED_EMAIL_DOMAIN, len(canon))])
    return _to_series(out, codes, series)


def _mask_phone(series: pd.Series, column: Column, key: MaskingKey) -> pd.Series:
    codes, canon = canonical_codes(series)
    n = len(canon)
    (h1,) = _hashes(canon, key, _domain(column), halves=1)
    digits = _token_digits(h1, 9)
    last4 = digits[:, 5:9].copy()
    if column.pii is not None and column.pii.keep_last4 and n:
        text = pa.array(canon, type=pa.large_string())
        tail = pc.utf8_slice_codeunits(text, -4)
        # cleaned phones end in 4 digits; anything else goes through the digits-only path
        odd = ~_bool_np(pc.match_substring_regex(tail, "^[0-9]{4}$"))
        if odd.any():
            rows = pa.array(np.flatnonzero(odd))
            only_digits = pc.replace_substring_regex(text.take(rows), "[^0-9]", "")
            odd_tail = pc.if_else(
                pc.greater_equal(pc.utf8_length(only_digits), 4),
                pc.utf8_slice_codeunits(only_digits, -4),
                pa.scalar("", pa.large_string()),
            )
            full = np.asarray(tail.to_numpy(zero_copy_only=False), dtype=object)
            full[odd] = np.asarray(odd_tail.to_numpy(zero_copy_only=False), dtype=object)
            tail = pa.array(full, type=pa.large_string())
            has4 = _bool_np(pc.match_substring_regex(tail, "^[0-9]{4}$"))
        else:
            has4 = ~odd
        fixed = pc.cast(pc.if_else(pa.array(has4), tail, pa.scalar("0000", pa.large_string())), pa.binary(4))
        tail_bytes = np.frombuffer(fixed.buffers()[1], dtype=np.uint8)[fixed.offset * 4 : (fixed.offset + n) * 4]
        tail_bytes = tail_bytes.reshape(n, 4)
        last4[has4] = tail_bytes[has4]
    dash = _const("-", n)
    out = _fixed_width([_const("0", n), digits[:, 0:2], dash, digits[:, 2:5], dash, last4])
    return _to_series(out, codes, series)


def _as_datetime(series: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return series
    return pd.to_datetime(series, errors="coerce")


def _mask_year(series: pd.Series) -> pd.Series:
    years = _as_datetime(series).dt.year
    return pd.Series(years.astype("Int64").array, index=series.index, name=series.name)


def age_band_labels(edges: list[int]) -> list[str]:
    """[18, 25, 65] -> ["<18", "18-24", "25-64", "65+"]."""
    edges = sorted(set(int(e) for e in edges))
    if not edges:
        raise ValueError("age_bands needs at least one edge")
    labels = [f"<{edges[0]}"]
    for lo, hi in zip(edges, edges[1:]):
        labels.append(f"{lo}-{hi - 1}" if hi - 1 > lo else f"{lo}")
    labels.append(f"{edges[-1]}+")
    return labels


def _mask_age_band(series: pd.Series, column: Column, reference_date: _dt.date) -> pd.Series:
    edges = sorted(set(int(e) for e in column.pii.age_bands)) if column.pii else [18, 25, 35, 45, 55, 65]
    labels = pd.array(age_band_labels(edges), dtype="string")
    dt = _as_datetime(series).dt
    year = dt.year.to_numpy(dtype=np.float64, na_value=np.nan)
    md = dt.month.to_numpy(dtype=np.float64, na_value=np.nan) * 100 + dt.day.to_numpy(dtype=np.float64, na_value=np.nan)
    ref_md = reference_date.month * 100 + reference_date.day
    age = reference_date.year - year - (ref_md < md)
    null = np.isnan(age)
    band = np.searchsorted(np.asarray(edges, dtype=np.float64), np.where(null, 0, age), side="right")
    codes = np.where(null, -1, band).astype(np.intp)
    return _to_series(labels, codes, series)


def _to_string_series(arr: pa.Array, like: pd.Series) -> pd.Series:
    return pd.Series(pd.array(arr, dtype="string"), index=like.index, name=like.name)


def _keep_nulls(source: pa.Array, result: pa.Array) -> pa.Array:
    """result with UNKNOWN where it has no value, but null wherever the input was null."""
    filled = pc.fill_null(result, pa.scalar(UNKNOWN, pa.large_string()))
    return pc.if_else(pc.is_null(source), pa.scalar(None, pa.large_string()), filled)


_STATE_ZIP = r"^[ \t]*[A-Za-z]{2}[ \t]+[0-9]{5}(?:-[0-9]{4})?[ \t]*$"
_ZIP_ONLY = r"^[ \t]*[0-9]{5}(?:-[0-9]{4})?[ \t]*$"
_STATE_ONLY = r"^[ \t]*[A-Za-z]{2}[ \t]*$"
# A city starts with a letter and holds no digit, so a street ("123 Main St") is never returned.
_CITY_NAME = r"^\p{L}[\p{L} .'\-]*$"


def _mask_city(series: pd.Series) -> pd.Series:
    """ "123 Main St, Springfield, IL 62704" (or "..., Springfield, IL, 62704") -> "Springfield".

    Split on commas/newlines with Arrow and pick components by position: faster than a
    capturing regex (~0.7 s vs ~1 s per million addresses) and just as strict.
    """
    text = arrow_strings(series)
    n = len(text)
    if n == 0 or text.null_count == n:
        return _to_string_series(_keep_nulls(text, text), series)
    if pc.any(pc.match_substring(text, "\n")).as_py():
        text_for_split = pc.replace_substring(text, "\n", ",")
    else:
        text_for_split = text
    parts = pc.split_pattern(text_for_split, ",")
    flat = pc.list_flatten(parts)
    offsets = parts.offsets.to_numpy()
    count = np.where(parts.is_valid().to_numpy(zero_copy_only=False), np.diff(offsets), 0)

    def component(from_end: int) -> pa.Array:
        idx = np.where(count >= from_end, offsets[1:] - from_end, 0)
        return flat.take(pa.array(idx))

    def matches(arr: pa.Array, pattern: str, need: int) -> np.ndarray:
        return _bool_np(pc.match_substring_regex(arr, pattern)) & (count >= need)

    last, second = component(1), component(2)
    form_a = matches(last, _STATE_ZIP, 2)  # ..., City, ST 12345
    form_b = ~form_a & matches(last, _ZIP_ONLY, 3) & matches(second, _STATE_ONLY, 3)  # ..., City, ST, 12345
    city = pc.if_else(pa.array(form_b), component(3), second)
    city = pc.utf8_trim_whitespace(city)
    ok = (form_a | form_b) & _bool_np(pc.match_substring_regex(city, _CITY_NAME))
    city = pc.if_else(pa.array(ok), city, pa.scalar(None, pa.large_string()))
    return _to_string_series(_keep_nulls(text, city), series)


_ZIP_AT_END = r"(?:^|[^0-9])[0-9]{5}(?:-[0-9]{4})?$"
_ZIP_PLUS4_AT_END = r"[0-9]{5}-[0-9]{4}$"
_ANY_ZIP = r"(?:^|[^0-9])[0-9]{5}(?:[^0-9]|$)"
# the LAST 5-digit group anywhere (greedy prefix); slow in RE2, so only for the rare rows whose
# 5-digit group is not at the end
_LAST_ZIP = r"(?s)^.*(?:^|[^0-9])(?P<zip>[0-9]{5})(?:-[0-9]{4})?(?:[^0-9]|$)"


def _mask_postcode(series: pd.Series) -> pd.Series:
    """The last 5-digit group -> its first 3 digits + "**" ("... IL 62704-1234" -> "627**")."""
    text = arrow_strings(series)
    if len(text) == 0:
        return _to_string_series(text, series)
    trimmed = pc.utf8_trim_whitespace(text)
    at_end = _bool_np(pc.match_substring_regex(trimmed, _ZIP_AT_END))
    plus4 = _bool_np(pc.match_substring_regex(trimmed, _ZIP_PLUS4_AT_END))
    prefix = pc.if_else(
        pa.array(plus4), pc.utf8_slice_codeunits(trimmed, -10, -7), pc.utf8_slice_codeunits(trimmed, -5, -2)
    )
    prefix = pc.if_else(pa.array(at_end), prefix, pa.scalar(None, pa.large_string()))
    elsewhere = ~at_end & _bool_np(pc.match_substring_regex(text, _ANY_ZIP))
    if elsewhere.any():
        rows = np.flatnonzero(elsewhere)
        found = pc.struct_field(pc.extract_regex(text.take(pa.array(rows)), _LAST_ZIP), [0])
        full = np.full(len(text), None, dtype=object)
        full[rows] = np.asarray(pc.utf8_slice_codeunits(found, 0, 3).to_numpy(zero_copy_only=False), dtype=object)
        prefix = pc.if_else(pa.array(elsewhere), pa.array(full, type=pa.large_string()), prefix)
    masked = pc.binary_join_element_wise(prefix, pa.scalar("**", pa.large_string()), pa.scalar("", pa.large_string()))
    return _to_string_series(_keep_nulls(text, masked), series)


def _bool_np(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(arr, False).to_numpy(zero_copy_only=False), dtype=bool)


def _mask_redact(series: pd.Series) -> pd.Series:
    codes = np.where(series.isna().to_numpy(), -1, 0).astype(np.intp)
    return _to_series(pd.array([REDACTED], dtype="string"), codes, series)


def _domain(column: Column) -> str:
    return (column.pii.key_domain if column.pii and column.pii.key_domain else None) or column.name


def mask_series(series: pd.Series, column: Column, key: MaskingKey, reference_date: _dt.date) -> pd.Series:
    """Mask one column with its contract strategy; same index and name, nulls stay null.

    Output dtypes: "string" for every strategy except year ("Int64"). ``reference_date`` is the
    "today" of age bands, passed in so a re-run of a partition gives the same output.
    """
    if column.pii is None:
        raise ValueError(f"column '{column.name}' has no pii section: nothing to mask")
    strategy = column.pii.masking
    if strategy == MaskingStrategy.token:
        return _mask_token(series, column, key)
    if strategy == MaskingStrategy.email:
        return _mask_email(series, column, key)
    if strategy == MaskingStrategy.phone:
        return _mask_phone(series, column, key)
    if strategy == MaskingStrategy.year:
        return _mask_year(series)
    if strategy == MaskingStrategy.age_band:
        return _mask_age_band(series, column, reference_date)
    if strategy == MaskingStrategy.city:
        return _mask_city(series)
    if strategy == MaskingStrategy.postcode_prefix:
        return _mask_postcode(series)
    if strategy == MaskingStrategy.redact:
        return _mask_redact(series)
    if strategy == MaskingStrategy.scrub:  # free text: the PII gate's own patterns, replaced in place
        return scrub_text(series)
    raise ValueError(f"unknown masking strategy {strategy!r}")  # pragma: no cover - enum is closed


def mask_frame(df: pd.DataFrame, contract: Contract, key: MaskingKey, reference_date: _dt.date) -> pd.DataFrame:
    """A copy of ``df`` with every PII column of the contract masked; other columns untouched.

    A PII column missing from ``df`` is an error: the frame does not match its contract, and
    silently skipping it would hide that.
    """
    missing = [c.name for c in contract.pii_columns if c.name not in df.columns]
    if missing:
        raise KeyError(f"{contract.name}: PII column(s) missing from the frame to mask: {', '.join(missing)}")
    out = df.copy()
    masked = map_columns(
        lambda column: mask_series(df[column.name], column, key, reference_date), contract.pii_columns, rows=len(df)
    )
    for column, series in zip(contract.pii_columns, masked):
        out[column.name] = series
    return out
