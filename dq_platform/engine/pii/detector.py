"""The detector: where each PII value is in a column, and the column with each one replaced.

One function, `resolve`, serves the leak gates (which rows hold which kind), profiling (what share
of a column looks like PII) and the `scrub` masking strategy (the text with "[kind]" in place of
every value found), so what scrub replaces is exactly what the gates flag.

How, vectorized (Arrow's RE2 kernels and numpy; Python touches only the IBANs of the four countries
with national check digits and bare ISBN-shaped digits):
1. DFA passes (`patterns.TRIGGER`, `SAFE_WHOLE`, `ANY`) keep the values holding any candidate at
   all: in masked tokens and ordinary text that is nearly none, and nothing else is paid for.
   Each distinct value among the rest is judged once.
2. A value that is one candidate from end to end is judged as it is. Otherwise each kind's leftmost
   candidate is captured with its own small pattern and the one starting first wins (ties: the
   order of KINDS). Each candidate is validated (checksums.py, phones.py); a span that fails as its
   first kind is tried as every later kind it also fits.
3. A valid candidate becomes "[kind]"; an invalid one is kept as it is (its pieces are not searched
   again: the digits of an IBAN-shaped string with a bad checksum are no card) and the search goes
   on after it. Rounds repeat on the values still holding a candidate: as many as the most PII-like
   spans one value holds, each round over fewer values.

Numeric columns are judged as a whole: integer values that are card numbers (issuer, length,
Luhn), SSNs (8-9 digits, SSA rules) or phone numbers (North-American plan, or a calling code and a
valid national number), counted when at least NUMERIC_SHARE of the column's values are one kind —
one 10-digit market capitalisation is not a phone number, a column of them is.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.engine.pii.checksums import bools, card_ok, iban_ok, ssn_ok
from dq_platform.engine.pii.patterns import (
    ANY,
    BOUNDED,
    FULL,
    FULL_ANY,
    KINDS,
    PREFILTER,
    RESERVED_EMAIL,
    SAFE_WHOLE,
    TRIGGER,
)
from dq_platform.engine.pii.phones import phone_digits_ok, phone_lengths, phone_regions

__all__ = ["NUMERIC_SHARE", "numeric_hits", "resolve"]

NUMERIC_SHARE = 0.9
MAX_ROUNDS = 512  # a value with more PII-like spans than this is flagged and scrubbed whole
_MARKERS = pa.array([f"[{k}]" for k in KINDS], type=pa.large_string())
_NOSEP = pa.scalar("", pa.large_string())


def _lengths(ok: np.ndarray, cands: pa.Array) -> np.ndarray:
    return np.where(ok, pc.utf8_length(cands).to_numpy(zero_copy_only=False), 0)


_CHECKS = {
    "email": lambda c: _lengths(~bools(pc.match_substring_regex(c, RESERVED_EMAIL)), c),
    "iban": lambda c: _lengths(iban_ok(c), c),
    "card": lambda c: _lengths(card_ok(c), c),
    "ssn": lambda c: _lengths(ssn_ok(c), c),
    "ipv6": lambda c: _lengths(np.ones(len(c), dtype=bool), c),
    "ipv4": lambda c: _lengths(np.ones(len(c), dtype=bool), c),
    "phone": phone_lengths,
}
# what may not touch a candidate of each kind: (head ends with, tail starts with), RE2
# (digits glued on by a dash, dot or slash: the candidate is a piece of a longer number, an ISBN, a version)
_GLUED_BEFORE, _GLUED_AFTER = r"@$|[0-9A-Za-z][-./]$", r"^@|^[-./][0-9A-Za-z]"
_NEIGHBOURS = {
    "email": (None, None),
    "iban": ("@$", "^@"),
    "card": (_GLUED_BEFORE, _GLUED_AFTER),
    "ssn": (_GLUED_BEFORE, _GLUED_AFTER),
    "ipv6": ("[:.]$", r"^(?::|\.[0-9])"),
    "ipv4": (r"\.$", r"^\.[0-9]"),
    "phone": (_GLUED_BEFORE, _GLUED_AFTER + r"|^:[0-9]"),
}


def _neighbours_ok(kind: str, head: pa.Array, tail: pa.Array) -> np.ndarray:
    before, after = _NEIGHBOURS[kind]
    ok = np.ones(len(head), dtype=bool)
    if before:
        ok &= ~bools(pc.match_substring_regex(head, before))
    if after:
        ok &= ~bools(pc.match_substring_regex(tail, after))
    return ok


def _judge(cand: pa.Array, first: np.ndarray, head: pa.Array, tail: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(kind index or -1, valid length) per candidate: its own kind first, then each later kind it fits."""
    n = len(cand)
    which = np.full(n, -1, dtype=np.int64)
    length = np.zeros(n, dtype=np.int64)
    for i, kind in enumerate(KINDS):
        trying = (which < 0) & (first <= i)
        if not trying.any():
            continue
        later = trying & (first < i)
        if later.any():  # a span found as an earlier kind: only if it is shaped like this one too
            trying[later] = bools(pc.match_substring_regex(cand.filter(pa.array(later)), FULL[kind]))
        if not trying.any():
            continue
        sel = pa.array(trying)
        ok = _neighbours_ok(kind, head.filter(sel), tail.filter(sel))
        got = np.zeros(int(trying.sum()), dtype=np.int64)
        if ok.any():
            got[ok] = _CHECKS[kind](cand.filter(sel).filter(pa.array(ok)))
        idx = np.flatnonzero(trying)[got > 0]
        which[idx], length[idx] = i, got[got > 0]
    return which, length


def _slice(arr: pa.Array, start: np.ndarray, stop: np.ndarray) -> pa.Array:
    """arr[i][start[i]:stop[i]] (byte positions) for every i, gathered with numpy: Arrow's slice
    kernels take one start for all values."""
    arr = arr.cast(pa.large_string())
    n = len(arr)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = arr.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    lengths = (stop - start).astype(np.int64)
    new_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    src = np.repeat(offsets[:-1] + start - new_offsets[:-1], lengths) + np.arange(new_offsets[-1], dtype=np.int64)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(new_offsets), pa.py_buffer(data[src].tobytes()))


def _last_two(values: pa.Array, stop: np.ndarray) -> pa.Array:
    """The two bytes before ``stop`` of each value as ASCII (space for a missing or non-ASCII byte):
    all the neighbour checks read of the text before a candidate."""
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int64)[values.offset : values.offset + n + 1]
    data = values.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(1, dtype=np.uint8)
    out = np.full((n, 2), 32, dtype=np.uint8)
    for col, back in ((0, 2), (1, 1)):
        live = stop >= back
        byte = data[np.where(live, offsets[:-1] + stop - back, 0)]
        out[:, col] = np.where(live & (byte < 128), byte, 32)
    return pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(np.arange(0, 2 * n + 1, 2, dtype=np.int64)), pa.py_buffer(out.tobytes())
    )


def _leftmost(values: pa.Array, whole_head: bool):
    """(candidate, its kind, head, tail, has one) of each value's leftmost candidate of any kind.

    Per kind, over the values that pass its cheap prefilter: its leftmost candidate and the text after
    it (one small capture); the kind whose candidate starts first wins, ties going to the earlier kind.
    The head is the whole text before the candidate only when ``whole_head`` (scrub rebuilds the
    text); the gates need its last two characters.
    """
    values = values.cast(pa.large_string())
    n = len(values)
    ends = pc.binary_length(values).to_numpy(zero_copy_only=False).astype(np.int64)
    best = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
    first = np.full(n, len(KINDS), dtype=np.int64)
    where = np.zeros(n, dtype=np.int64)  # the winner's position among all kinds' candidates
    found, count = [], 0
    for i, kind in enumerate(KINDS):
        rows, subset = np.arange(n), values
        if kind in PREFILTER:
            text, is_regex = PREFILTER[kind]
            rows = np.flatnonzero(bools((pc.match_substring_regex if is_regex else pc.match_substring)(values, text)))
            subset = values.take(pa.array(rows))
        if not len(rows):
            continue
        ex = pc.extract_regex(subset, BOUNDED[kind])
        hit = bools(pc.is_valid(ex))
        if not hit.any():
            continue
        rows, ex = rows[hit], ex.filter(pa.array(hit))
        cand = pc.struct_field(ex, "c")
        size = pc.binary_length(cand).to_numpy(zero_copy_only=False)
        start = ends[rows] - size - pc.binary_length(pc.struct_field(ex, "t")).to_numpy(zero_copy_only=False)
        better = start < best[rows]
        won = rows[better]
        best[won], first[won], where[won] = start[better], i, count + np.flatnonzero(better)
        found.append(cand)
        count += len(cand)
    has = first < len(KINDS)
    if not has.any():
        empty = _empty_like(values.slice(0, 0))
        return empty, first[:0], empty, empty, has
    if not has.all():
        values, best, first, ends, where = values.filter(pa.array(has)), best[has], first[has], ends[has], where[has]
    cands = pa.concat_arrays([c.cast(pa.large_string()) for c in found]).take(pa.array(where))
    stop = best + pc.binary_length(cands).to_numpy(zero_copy_only=False)
    head = _slice(values, np.zeros(len(values), dtype=np.int64), best) if whole_head else _last_two(values, best)
    return cands, first, head, _slice(values, stop, ends), has


def _scatter(base: pa.Array, rows: np.ndarray, values: pa.Array) -> pa.Array:
    """base with base[rows[i]] replaced by values[i] (rows ascending)."""
    mask = np.zeros(len(base), dtype=bool)
    mask[rows] = True
    rank = np.maximum(np.cumsum(mask) - 1, 0)
    return pc.if_else(pa.array(mask), values.take(pa.array(rank)), base)


def _empty_like(arr: pa.Array) -> pa.Array:
    return pc.utf8_slice_codeunits(arr, 0, 0)


class _State:
    """The candidate values of one resolve: text given up (done) and still to search (todo) per value."""

    def __init__(self, todo: pa.Array, replace: bool):
        self.todo, self.done, self.replace = todo, _empty_like(todo), replace
        self.found = np.full((len(KINDS), len(todo)), False)

    def step(self, active: np.ndarray, cand: pa.Array, first: np.ndarray, head: pa.Array, tail: pa.Array, judged=None):
        """Judge one candidate per active value; returns the values whose rest may hold another."""
        which, length = judged if judged is not None else _judge(cand, first, head, tail)
        ok = which >= 0
        for i in np.unique(which[ok]):
            self.found[i, active[which == i]] = True
        # an invalid span is given up whole: it was tried as every kind it fits, and the pieces of a
        # tracking number or an ISBN are no phone numbers either
        partial = ok & (length < pc.utf8_length(cand).to_numpy(zero_copy_only=False))
        cand_rest = _empty_like(cand)
        if partial.any():  # a phone valid on its leading groups only: the rest is searched again
            pos = np.flatnonzero(partial)
            tails = np.asarray(cand_rest.to_numpy(zero_copy_only=False), dtype=object)
            tails[pos] = [c[k:] for c, k in zip(cand.take(pa.array(pos)).to_pylist(), length[pos])]
            cand_rest = pa.array(tails, type=pa.large_string())
        rest = pc.binary_join_element_wise(cand_rest, tail, _NOSEP)
        if self.replace:
            piece = pc.if_else(pa.array(ok), _MARKERS.take(pa.array(np.maximum(which, 0))), cand)
            piece = pc.binary_join_element_wise(self.done.take(pa.array(active)), head, piece, _NOSEP)
            self.done = _scatter(self.done, active, piece)
        self.todo = _scatter(self.todo, active, rest)
        return active[bools(pc.match_substring_regex(rest, ANY))]


def _candidate_rows(text: pa.Array) -> np.ndarray:
    """Values that hold a candidate: three DFA passes, each over the survivors of the one before."""
    rows = np.flatnonzero(bools(pc.match_substring_regex(text, TRIGGER)))
    for pattern, keep in ((SAFE_WHOLE, False), (ANY, True)):
        if len(rows):
            rows = rows[bools(pc.match_substring_regex(text.take(pa.array(rows)), pattern)) == keep]
    return rows


def _resolve_candidates(values: pa.Array, replace: bool) -> tuple[pa.Array | None, np.ndarray]:
    """(replaced text, found[kind index, value]) of distinct values that each hold a candidate."""
    state = _State(values, replace)
    rows = np.arange(len(values))
    # fast path: values that are one candidate from end to end (most values of an export column)
    whole = np.full(len(rows), -1, dtype=np.int64)
    one = np.flatnonzero(bools(pc.match_substring_regex(state.todo, FULL_ANY)))  # one DFA pass first
    if len(one):
        ones = state.todo.take(pa.array(one))
        for i, kind in enumerate(KINDS):
            sel = whole[one] < 0
            whole[one[sel & bools(pc.match_substring_regex(ones, FULL[kind]))]] = i
    fast = np.flatnonzero(whole >= 0)
    active = np.flatnonzero(whole < 0)
    if len(fast):
        cand = state.todo.take(pa.array(fast))
        blank = _empty_like(cand)
        which, length = _judge(cand, whole[fast], blank, blank)
        ok = which >= 0
        # an invalid one goes the long way: an earlier kind may start there with a shorter span
        # ("192.168.0.1/24" is phone-shaped as a whole, an address at its start)
        active = np.union1d(active, fast[~ok])
        if ok.any():
            sel = pa.array(ok)
            blank = blank.filter(sel)
            again = state.step(fast[ok], cand.filter(sel), whole[fast][ok], blank, blank, (which[ok], length[ok]))
            active = np.union1d(active, again)
    rounds = 0
    while len(active) and rounds < MAX_ROUNDS:
        cand, first, head, tail, has = _leftmost(state.todo.take(pa.array(active)), state.replace)
        active = active[has]
        if not len(active):
            break
        active = state.step(active, cand, first, head, tail)
        rounds += 1
    if len(active):  # over MAX_ROUNDS: flagged (as phones, the loosest kind), and scrubbed whole
        state.found[KINDS.index("phone"), active] = True
    if not replace:
        return None, state.found
    out = pc.binary_join_element_wise(state.done, state.todo, _NOSEP)
    if len(active):
        out = _scatter(out, active, pa.array(["[REDACTED]"] * len(active), type=pa.large_string()))
    return out, state.found


def resolve(text: pa.Array, replace: bool = False) -> tuple[pa.Array | None, dict[str, np.ndarray]]:
    """(text with each value found replaced by "[kind]" — only when ``replace`` —, {kind: row mask}).

    ``text``: an Arrow string array. Only the values holding a candidate are looked at closer, each
    distinct one once. Only kinds found appear in the dict.
    """
    text = text.cast(pa.large_string())
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    n = len(text)
    rows = _candidate_rows(text) if n else np.zeros(0, dtype=np.int64)
    if not len(rows):
        return (text if replace else None), {}
    enc = pc.dictionary_encode(text.take(pa.array(rows)))  # no nulls among candidates
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    out, found = _resolve_candidates(enc.dictionary, replace)
    masks = {}
    for i, kind in enumerate(KINDS):
        if found[i].any():
            masks[kind] = np.zeros(n, dtype=bool)
            masks[kind][rows[found[i][codes]]] = True
    return (_scatter(text, rows, out.take(enc.indices)) if replace else None), masks


# -- numeric columns ----------------------------------------------------------------------------


def _integral_digits(series: pd.Series) -> tuple[np.ndarray, pa.Array]:
    """(row positions, their values as digit strings) of the present, integral, positive values."""
    values = pd.to_numeric(series, errors="coerce").astype("Float64")
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    if pd.api.types.is_integer_dtype(series.dtype):  # exact: no float round trip for big integers
        ints = series.astype("Int64")
        keep = ~ints.isna().to_numpy() & (ints.fillna(0).to_numpy(dtype="int64") > 0)
        rows = np.flatnonzero(keep)
        return rows, pc.cast(pa.array(ints.to_numpy(dtype="int64", na_value=0)[rows]), pa.large_string())
    keep = np.isfinite(arr) & (arr > 0) & (arr < 1e19) & (np.floor(arr) == arr)
    rows = np.flatnonzero(keep)
    return rows, pc.cast(pa.array(arr[rows].astype(np.uint64)), pa.large_string())


def numeric_hits(series: pd.Series) -> dict[str, np.ndarray]:
    """{kind: row mask} of an integer/decimal column, judged as a whole (see the module docstring)."""
    n = len(series)
    rows, digits = _integral_digits(series)
    present = int(series.notna().sum())
    if not len(rows) or not present:
        return {}
    length = pc.utf8_length(digits).to_numpy(zero_copy_only=False)
    kinds = {"card": card_ok(digits)}
    ssn = np.zeros(len(rows), dtype=bool)
    eight_nine = (length == 8) | (length == 9)
    if eight_nine.any():  # an SSN with a leading zero stored as a number has lost it
        ssn[eight_nine] = ssn_ok(pc.utf8_lpad(digits.filter(pa.array(eight_nine)), 9, "0"))
    kinds["ssn"] = ssn & ~kinds["card"]
    # numbers lose a trunk zero, so of the national forms only the North-American one survives
    nanp = tuple(r for r in phone_regions() if r in ("US", "CA"))
    phone = phone_digits_ok(digits, np.zeros(len(rows), dtype=bool), nanp)
    long = length >= 11
    if long.any():  # E.164 stored without its "+"
        phone[long] |= phone_digits_ok(digits.filter(pa.array(long)), np.ones(int(long.sum()), dtype=bool), nanp)
    kinds["phone"] = phone & ~kinds["card"] & ~kinds["ssn"]
    out = {}
    for kind, hit in kinds.items():
        if hit.sum() >= NUMERIC_SHARE * present:
            mask = np.zeros(n, dtype=bool)
            mask[rows[hit]] = True
            out[kind] = mask
    return out
