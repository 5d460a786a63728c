"""Undeclared PII: a column the contract does not declare `pii:` whose raw values look like PII.

The raw profile measures, per column without `pii:`, the share of its values holding each kind
(`pii_shares`); the raw layer's WARN check (`raw_has_no_undeclared_pii`) names the column, the
kind, the share and the contract line that would mask it — before the masked gate has to refuse
to publish it. Shares and kinds only: never a value.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dq_platform.engine.pii.checksums import bools
from dq_platform.engine.pii.detector import NUMERIC_SHARE, resolve
from dq_platform.engine.pii.patterns import KINDS

__all__ = [
    "PII_SAMPLE",
    "PII_SAMPLE_MIN",
    "PII_SAMPLE_RATE",
    "UNDECLARED_SHARE",
    "merge_pii_counts",
    "pii_counts",
    "pii_sample",
    "pii_shares",
    "suggested_pii",
    "undeclared_findings",
]

UNDECLARED_SHARE = 0.01  # a column with at least this share of values holding one kind is reported
# distinct values judged per chunk's column, drawn with a fixed seed above that: 2% of its rows,
# at least PII_SAMPLE_MIN and at most PII_SAMPLE. A budget per row, so a file costs the same
# whatever its chunking (a fixed number per chunk would cost ten times more in ten chunks).
PII_SAMPLE = 20_000
PII_SAMPLE_MIN = 5_000
PII_SAMPLE_RATE = 0.02
_SEED = 0
# kind -> (category, masking) of the suggested contract line when the values are that kind alone
_SUGGESTED = {
    "email": ("email", "email"),
    "phone": ("phone", "phone"),
    "ssn": ("national_id", "token"),
    "card": ("financial", "token"),
    "iban": ("financial", "token"),
    "ipv4": ("identifier", "token"),
    "ipv6": ("identifier", "token"),
}


def pii_counts(values: pa.Array, counts: np.ndarray) -> dict:
    """What one chunk adds to a column's `pii_shares`: counts that sum over chunks.

    ``values``: a chunk's distinct present values (text); ``counts``: rows per value. Above
    `pii_sample(rows)` distinct values, judged on that many of them drawn with a fixed seed (``rows``
    then counts the judged rows, ``present`` every present row). Every kind found is counted, even
    one the numeric rule will drop: that rule is decided on the merged counts.
    """
    present = int(counts.sum())
    sample = pii_sample(present)
    if len(values) > sample:
        picked = np.sort(np.random.default_rng(_SEED).choice(len(values), sample, replace=False))
        values, counts = values.take(pa.array(picked)), counts[picked]
    text = pc.cast(values, pa.large_string())
    out, masks = resolve(text, replace=True) if len(text) else (None, {})
    number = bools(pc.match_substring_regex(text, r"^[+-]?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$"))
    kinds = {}
    for kind, mask in masks.items():
        whole = mask & bools(pc.equal(out, pa.scalar(f"[{kind}]", pa.large_string())))
        kinds[kind] = [int(counts[mask].sum()), int(counts[whole].sum())]
    return {"present": present, "rows": int(counts.sum()), "numeric": int(counts[number].sum()), "kinds": kinds}


def pii_sample(rows: int) -> int:
    """Distinct values judged in a chunk of `rows` present rows."""
    return min(PII_SAMPLE, max(PII_SAMPLE_MIN, int(np.ceil(PII_SAMPLE_RATE * rows))))


def merge_pii_counts(parts: list[dict]) -> dict[str, dict[str, float]]:
    """{kind: {"share": rows holding it / rows, "whole": of those, rows that are nothing else}}
    from chunks' `pii_counts`; a sampled chunk's counts are scaled to its present rows."""
    total = numeric = 0.0
    hits: dict[str, list[float]] = {}
    for p in parts:
        if not p["rows"]:
            continue
        scale = 1 if p["rows"] == p["present"] else p["present"] / p["rows"]
        total += p["present"]
        numeric += p["numeric"] * scale
        for kind, (h, w) in p["kinds"].items():
            acc = hits.setdefault(kind, [0, 0])
            acc[0] += h * scale
            acc[1] += w * scale
    # a column of plain numbers (market caps, volumes, ids; a few malformed values aside) is judged
    # as the gate judges a numeric column: a kind counts only when nearly every number is one, not
    # when some large numbers happen to be valid national phone numbers
    numbers = total and numeric >= NUMERIC_SHARE * total
    shares = {}
    for kind in KINDS:
        if kind not in hits or (numbers and hits[kind][0] < NUMERIC_SHARE * numeric):
            continue
        h, w = hits[kind]
        shares[kind] = {"share": round(float(h / total), 6), "whole": round(float(w / h), 6)}
    return shares


def pii_shares(values: pa.Array, counts: np.ndarray) -> dict[str, dict[str, float]]:
    """`merge_pii_counts` of one chunk (a whole column)."""
    return merge_pii_counts([pii_counts(values, counts)]) if len(values) else {}


def suggested_pii(kind: str, whole: float) -> str:
    """The contract line that masks such a column: the kind's own strategy when the values are that
    kind alone, `scrub` when it sits inside free text."""
    category, masking = _SUGGESTED[kind] if whole >= 0.5 else ("other", "scrub")
    return f"pii: {{category: {category}, masking: {masking}}}"


def undeclared_findings(profile, threshold: float = UNDECLARED_SHARE) -> list[dict]:
    """[{column, kind, share, suggested}] of the profile's columns without `pii:` (most-shared kind each)."""
    out = []
    for col in profile.columns:
        shares = getattr(col, "pii_shares", None)
        if col.pii or not shares:
            continue
        kind = max(shares, key=lambda k: (shares[k]["share"], -KINDS.index(k)))
        share = shares[kind]["share"]
        if share >= threshold:
            out.append(
                {
                    "column": col.name,
                    "kind": kind,
                    "share": share,
                    "suggested": suggested_pii(kind, shares[kind]["whole"]),
                }
            )
    return out
