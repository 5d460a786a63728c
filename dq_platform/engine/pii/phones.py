"""Phone number candidates validated against libphonenumber's metadata, vectorized.

The `phonenumbers` package (Google's libphonenumber metadata, kept current upstream) knows, for
every region, which national numbers are valid: one pattern per number type (fixed line, mobile,
toll free, ...). Calling ``phonenumbers.is_valid_number`` per value costs 10-400 µs (its regex
cache thrashes across regions), so instead the same patterns are compiled once per calling code
into one RE2 pattern and matched with Arrow's kernel over all candidates of that code at once:
the validation is libphonenumber's, the loop is C++.

Forms:
- international: "+" or "00", a calling code (codes are prefix-free), the national number;
  "(0)" after the code is dropped ("+44 (0)20 7946 0958"). Every region is recognized.
- national: for each region of ``DQ_PHONE_REGIONS``, its trunk prefix (0 in most of Europe) then
  a number valid there; regions without a trunk prefix (ES, IT) take the digits as written.
  North-American numbers follow the numbering plan's structure (NXX-NXX-XXXX, optional 1):
  fictional 555 numbers are still somebody's format and are flagged.

Refused: dates and times (2024-06-15, 01.02.2024, a candidate followed by ":"), decimals
(48.8566), fewer than 7 digits, and 0XX-XXX-XXXX — the shape the `phone` masking strategy writes.
"""

from __future__ import annotations

import functools
import re

import numpy as np
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, SUPPORTED_REGIONS, PhoneMetadata
from stdnum import isbn

from dq_platform import settings
from dq_platform.engine.pii.checksums import bools

__all__ = ["phone_lengths", "phone_regions", "phone_digits_ok"]

_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)
# national forms: the types people write down (personal, voicemail, VoIP and pager ranges are mostly
# reached through +<code>; IT personal numbers 178... would take this year's Unix timestamps)
_NATIONAL_TYPES = ("fixed_line", "mobile", "toll_free", "shared_cost", "uan")
NANP_PLAN = r"[2-9][0-9]{2}[2-9][0-9]{6}"
_NOT_A_PHONE = (
    r"^[12][0-9]{3}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12][0-9]|3[01])(?:$|[^0-9])"  # ISO dates (+ an hour)
    r"|^[0-9]{1,2}[-./][0-9]{1,2}[-./][0-9]{2,4}(?:$|[ T])"  # 01.02.2024, 1/2/24
    r"|^[0-9]{1,3}\.[0-9]{4,}(?:$|[ ,])|^[0-9]+\.[0-9]+$"  # coordinates, amounts: one decimal point
    r"|^0\.|^[0-9]+(?:\.[0-9]+)*\.[0-9]\."  # versions: 0.x, a one-digit group between dots
    r"|^0[0-9]{2}-[0-9]{3}-[0-9]{4}$"  # 0XX-XXX-XXXX: what phone masking writes
    r"|^97[89][- ][0-9]{1,5}[- ][0-9]{1,7}[- ][0-9]{1,7}[- ][0-9]$"  # ISBN-13, hyphenated
    r"|^[0-9]{1,5}-[0-9]{1,7}-[0-9]{1,7}-[0-9]$"  # ISBN-10, hyphenated
    # printed like a card or a parcel number (fours, Amex 4-6-5) or 12+ bare digits, without a trunk 0
    r"|^[1-9][0-9]{3}(?:[ \-][0-9]{4}){2,}(?:[ \-][0-9]{1,3})?$|^[1-9][0-9]{3}[ \-][0-9]{6}[ \-][0-9]{4,5}$"
    r"|^[1-9][0-9]{11,}$"
    r"|^1[0-9]{9}$"  # Unix times (2001-2033), not AU/IN 1800 numbers written without a space
    r"|^[0-9]{3}-[0-9]{2}-[0-9]{4}$|^[0-9]{3} [0-9]{2} [0-9]{4}$|^[0-9]{3}\.[0-9]{2}\.[0-9]{4}$"  # SSN-shaped
)
# written the North-American way (NXX-NXX-XXXX, (NXX) NXX-XXXX, optional 1): judged by that plan only
_NANP_GROUPING = r"^(?:\+?1[ .\-]?)?(?:\([1-9][0-9]{2}\)[ \-]?|[1-9][0-9]{2}[ .\-])[0-9]{3}[ .\-][0-9]{4}$"
# ISBNs written as bare digits: EAN-13 with the book prefixes (python-stdnum rules them out)
_ISBN_DIGITS = r"^97[89][0-9]{10}$"
_INTERNATIONAL = r"^(?:\+|00|\(\+)"
_LAST_CHUNK = r" +[^ ]+$"  # numbers side by side are written with a space between them
# what the North-American plan judges: its own grouping, or the digits alone (5552345678, +15552345678)
_NANP_WRITTEN = r"^(?:\+?1[ .\-]?)?[0-9]{10}$"


def _metadata(region: str, code: int):
    return (
        PhoneMetadata.metadata_for_nongeo_region(code) if region == "001" else PhoneMetadata.metadata_for_region(region)
    )


def _type_patterns(md, types: tuple[str, ...] = _TYPES) -> list[str]:
    out = []
    for name in types:
        desc = getattr(md, name, None)
        if desc is not None and desc.national_number_pattern:
            out.append(desc.national_number_pattern)
    return out


@functools.cache
def _code_pattern(code: int) -> str:
    """Valid national numbers of every region sharing a calling code, as one anchored RE2 pattern."""
    if code == 1:
        return f"^{NANP_PLAN}$"
    pats = [p for region in COUNTRY_CODE_TO_REGION_CODE[code] for p in _type_patterns(_metadata(region, code))]
    return "^(?:" + "|".join(f"(?:{p})" for p in pats) + ")$" if pats else "^$^"


@functools.cache
def _region_rule(region: str) -> tuple[str | None, str]:
    """(trunk prefix or None, anchored pattern of valid national numbers) of one region."""
    md = PhoneMetadata.metadata_for_region(region)
    if md.country_code == 1:
        return "1?", f"^{NANP_PLAN}$"
    pats = _type_patterns(md, _NATIONAL_TYPES)
    return md.national_prefix, "^(?:" + "|".join(f"(?:{p})" for p in pats) + ")$"


@functools.cache
def _service_rule(region: str) -> str | None:
    """Toll-free, shared-cost and UAN numbers, often written without the trunk prefix (AU 1800 ...)."""
    md = PhoneMetadata.metadata_for_region(region)
    if md.country_code == 1 or not md.national_prefix:
        return None
    example = phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.TOLL_FREE)
    written = example and phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    if not written or written.lstrip("(").startswith(md.national_prefix):
        return None  # the region writes its service numbers with the trunk prefix (0800 ...)
    pats = [
        d.national_number_pattern
        for d in (md.toll_free, md.shared_cost, md.uan)
        if d is not None and d.national_number_pattern
    ]
    return "^(?:" + "|".join(f"(?:{p})" for p in pats) + ")$" if pats else None


def phone_regions() -> tuple[str, ...]:
    """DQ_PHONE_REGIONS as region codes; an unknown code is a clear error naming it."""
    text = settings.get("DQ_PHONE_REGIONS") or ""
    regions = tuple(dict.fromkeys(r.strip().upper() for r in text.split(",") if r.strip()))
    unknown = [r for r in regions if r not in SUPPORTED_REGIONS]
    if unknown:
        raise settings.SettingsError(
            f"DQ_PHONE_REGIONS: unknown region code(s) {', '.join(unknown)} (ISO 3166 alpha-2, e.g. US,GB,DE)"
        )
    return regions


_CODES = pa.array(sorted(str(c) for c in COUNTRY_CODE_TO_REGION_CODE), type=pa.large_string())


def _international_ok(digits: pa.Array) -> np.ndarray:
    """Digits of "+<code><national number>": the code found by prefix (codes are prefix-free)."""
    n = len(digits)
    ok = np.zeros(n, dtype=bool)
    lengths = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
    for width in (1, 2, 3):
        has = bools(pc.is_in(pc.utf8_slice_codeunits(digits, 0, width), value_set=_CODES)) & (lengths <= 15)
        if not has.any():
            continue
        idx = np.flatnonzero(has)
        picked = digits.take(pa.array(idx))
        codes = pc.cast(pc.utf8_slice_codeunits(picked, 0, width), pa.int64()).to_numpy(zero_copy_only=False)
        national = pc.utf8_slice_codeunits(picked, width)
        order = np.argsort(codes, kind="stable")  # one group of rows per calling code
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for sel in np.split(order, bounds):
            matched = pc.match_substring_regex(national.take(pa.array(sel)), _code_pattern(int(codes[sel[0]])))
            ok[idx[sel]] = bools(matched)
    return ok


@functools.cache
def _national_pattern(regions: tuple[str, ...]) -> tuple[str | None, bool]:
    """(one anchored RE2 pattern: each region's trunk prefix + its national numbers, and its service
    numbers as written without the trunk; whether a North-American region is among them)."""
    forms, nanp = [], False
    for region in regions:
        trunk, pattern = _region_rule(region)
        body = pattern.removeprefix("^(?:").removesuffix(")$")
        if trunk == "1?":
            nanp = True
            continue
        forms.append(f"{re.escape(trunk)}(?:{body})" if trunk else f"(?:{body})")
        service = _service_rule(region)
        if service:
            forms.append(service.removeprefix("^").removesuffix("$"))
    return ("^(?:" + "|".join(forms) + ")$" if forms else None), nanp


def _national_ok(digits: pa.Array, regions: tuple[str, ...], nanp_form: np.ndarray | None = None) -> np.ndarray:
    """National numbers of the regions; the North-American plan only where ``nanp_form`` (default: all)."""
    pattern, nanp = _national_pattern(regions)
    ok = bools(pc.match_substring_regex(digits, pattern)) if pattern else np.zeros(len(digits), dtype=bool)
    if nanp:
        hit = bools(pc.match_substring_regex(digits, f"^1?{NANP_PLAN}$"))
        ok |= hit if nanp_form is None else hit & nanp_form
    return ok


def phone_digits_ok(
    digits: pa.Array, international: np.ndarray, regions: tuple[str, ...], nanp_form: np.ndarray | None = None
) -> np.ndarray:
    """Digit strings (an international one without its "+"/"00") valid as phone numbers."""
    ok = np.zeros(len(digits), dtype=bool)
    if international.any():
        ok[international] = _international_ok(digits.filter(pa.array(international)))
    national = ~international
    if national.any():
        form = None if nanp_form is None else nanp_form[national]
        ok[national] = _national_ok(digits.filter(pa.array(national)), regions, form)
    return ok & (pc.utf8_length(digits).to_numpy(zero_copy_only=False) >= 7)


def _valid(candidates: pa.Array, regions: tuple[str, ...]) -> np.ndarray:
    intl = bools(pc.match_substring_regex(candidates, _INTERNATIONAL))
    text = pc.replace_substring_regex(candidates, r"\(0\)", "") if intl.any() else candidates
    digits = pc.replace_substring_regex(text, "[^0-9]", "")
    if intl.any():  # "00" international prefix: drop it with the rest of the non-digits
        zeros = bools(pc.starts_with(pc.utf8_ltrim(text, characters="( "), "00"))
        digits = pc.if_else(pa.array(zeros), pc.utf8_slice_codeunits(digits, 2), digits)
    nanp_grouped = bools(pc.match_substring_regex(candidates, _NANP_GROUPING))
    nanp_form = nanp_grouped | bools(pc.match_substring_regex(candidates, _NANP_WRITTEN))
    ok = phone_digits_ok(digits, intl, regions, nanp_form)
    nanp_shaped = ~intl & nanp_grouped
    if nanp_shaped.any():
        nanp = tuple(r for r in regions if PhoneMetadata.metadata_for_region(r).country_code == 1)
        sel = pa.array(nanp_shaped)
        ok[nanp_shaped] = phone_digits_ok(digits.filter(sel), np.zeros(int(nanp_shaped.sum()), dtype=bool), nanp)
    ok &= ~bools(pc.match_substring_regex(candidates, _NOT_A_PHONE))
    book = ok & bools(pc.match_substring_regex(digits, _ISBN_DIGITS))
    if book.any():  # a few at most: python-stdnum's ISBN check
        ok[book] = [not isbn.is_valid(v) for v in digits.filter(pa.array(book)).to_pylist()]
    return ok


def phone_lengths(candidates: pa.Array, tries: int = 4) -> np.ndarray:
    """Per candidate: how many leading characters form a valid phone number (0: none).

    A candidate that is not valid as a whole loses its last group of digits and is tried again
    (up to ``tries`` times), so two numbers written side by side ("555-234-5678 555-234-5679")
    are found one by one instead of failing together.
    """
    regions = phone_regions()
    out = np.zeros(len(candidates), dtype=np.int64)
    idx = np.arange(len(candidates))
    cur = candidates
    for _ in range(tries):
        if not len(idx):
            break
        ok = _valid(cur, regions)
        out[idx[ok]] = pc.utf8_length(cur.filter(pa.array(ok))).to_numpy(zero_copy_only=False)
        shorter = pc.replace_substring_regex(cur.filter(pa.array(~ok)), _LAST_CHUNK, "")
        idx = idx[~ok]
        keep = pc.utf8_length(pc.replace_substring_regex(shorter, "[^0-9]", "")).to_numpy(zero_copy_only=False) >= 7
        idx, cur = idx[keep], shorter.filter(pa.array(keep))
    return out
