"""What a user would run instead of the platform, on the same customers file: the peers of bench/scale.py.

    python bench/peers.py handwritten FILE OUT   # normalizing pandas script: cleaned + quarantine to Delta
    python bench/peers.py gx FILE OUT            # Great Expectations alone on the same rules (counts only)
    python bench/peers.py floor FILE OUT         # pyarrow read + Delta writes, nothing else

Each prints one JSON line (row counts) as its last line. They import nothing from dq_platform but
the format regexes (engine/formats.py, no heavy imports), so "the same rules" means the same
patterns and the CPU measured is the peer's own.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

# the customers contract's rules, written out by hand as a user without the platform would
NULLS = ["", "NULL", "null", "None", "N/A", "n/a", "NA", "NaN", "nan", "-"]
DATE_FORMATS = [
    "ISO8601",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
]
STATUSES = ["active", "inactive", "suspended"]
COLUMNS = [
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address",
    "income",
    "account_status",
    "created_date",
]


def _patterns() -> dict[str, str]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from dq_platform.engine.formats import FORMAT_PATTERNS

    return FORMAT_PATTERNS


def _read_text(path: str) -> pd.DataFrame:
    """Every column as Arrow-backed text, nothing inferred (the file is messy)."""
    opts = pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()), strings_can_be_null=False)
    table = pacsv.read_csv(path, convert_options=opts)
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)


def _text(s: pd.Series, case: str | None = None, collapse: bool = True) -> pd.Series:
    s = s.str.strip()
    if collapse:
        s = s.str.replace(r"[ \t\n\r\f\v]{2,}|[\t\n\r\f\v]", " ", regex=True)
    s = s.mask(s.isin(NULLS))
    return {"lower": s.str.lower(), "title": s.str.title()}.get(case, s)


def _number(s: pd.Series) -> pd.Series:
    num = pd.to_numeric(s.str.replace(r"[\$€£,\s]", "", regex=True), errors="coerce").astype("float64")
    return num.where(np.isfinite(num))


def _date(s: pd.Series) -> pd.Series:
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    todo = s.notna()
    for fmt in DATE_FORMATS:
        if not todo.any():
            break
        kw = {"utc": True} if fmt == "ISO8601" else {}
        parsed = pd.to_datetime(s[todo], format=fmt, errors="coerce", **kw)
        if fmt == "ISO8601":
            parsed = parsed.dt.tz_convert(None)
        parsed = parsed.where((parsed >= pd.Timestamp.min) & (parsed <= pd.Timestamp.max)).astype("datetime64[ns]")
        hit = parsed[parsed.notna()]
        out.loc[hit.index] = hit
        todo.loc[hit.index] = False
    return out.dt.normalize()


def _phone(s: pd.Series) -> pd.Series:
    digits = s.str.replace(r"[^0-9]", "", regex=True)
    digits = digits.where(~((digits.str.len() == 11) & digits.str.startswith("1")), digits.str.slice(1))
    ok = digits.str.fullmatch(r"[2-9][0-9]{2}[2-9][0-9]{6}").fillna(False)
    return (digits.str.slice(0, 3) + "-" + digits.str.slice(3, 6) + "-" + digits.str.slice(6, 10)).where(ok)


def handwritten(path: str, out: str) -> dict:
    """Type, normalize and judge every row; valid rows to cleaned, the others to quarantine."""
    from deltalake import write_deltalake

    fmt = _patterns()
    today = pd.Timestamp.now().normalize()
    raw = _read_text(path)
    case = {"first_name": "title", "last_name": "title", "email": "lower", "account_status": "lower"}
    typed = ("customer_id", "income", "date_of_birth", "created_date")  # whitespace runs collapse in text only
    text = {c: _text(raw[c], case.get(c), collapse=c not in typed) for c in COLUMNS}
    bad = pd.Series(False, index=raw.index)
    clean = pd.DataFrame(index=raw.index)

    cid = _number(text["customer_id"])
    bad |= cid.isna() | (cid != cid.round()) | (cid.abs() > 2**62) | (cid < 1)
    clean["customer_id"] = cid.round().astype("Int64")
    for c in ("first_name", "last_name"):
        v = text[c]
        n = v.str.len()
        bad |= v.isna() | (n < 2) | (n > 50) | ~v.str.fullmatch(fmt["alphabetic"]).fillna(False)
        clean[c] = v
    email = text["email"]
    bad |= email.isna() | ~email.str.fullmatch(fmt["email"]).fillna(False)
    clean["email"] = email
    phone = _phone(text["phone"])
    bad |= text["phone"].notna() & phone.isna()
    clean["phone"] = phone.astype("string")
    for c, low in (("date_of_birth", "1900-01-01"), ("created_date", "2000-01-01")):
        d = _date(text[c])
        bad |= d.isna() | (d < pd.Timestamp(low)) | (d > today)
        clean[c] = d
    address = text["address"]
    n = address.str.len()
    bad |= address.isna() | (n < 10) | (n > 200)
    clean["address"] = address
    income = _number(text["income"])
    bad |= (text["income"].notna() & income.isna()) | (income < 0) | (income > 10_000_000)
    clean["income"] = income
    status = text["account_status"]
    bad |= status.isna() | ~status.isin(STATUSES)
    clean["account_status"] = status
    bad = bad.fillna(True).to_numpy(dtype=bool)

    # duplicates among rows valid so far (first one kept), then the cross-column rule
    ids = clean["customer_id"]
    dup = np.zeros(len(raw), bool)
    dup[~bad] = ids[~bad].duplicated(keep="first").to_numpy()
    both = clean["created_date"].notna() & clean["date_of_birth"].notna()
    order = (both & ~(clean["created_date"] > clean["date_of_birth"])).to_numpy(dtype=bool)
    bad |= dup | order

    cleaned, quarantine = clean[~bad].reset_index(drop=True), raw[bad].reset_index(drop=True)
    write_deltalake(f"{out}/cleaned", cleaned, mode="overwrite")
    write_deltalake(f"{out}/quarantine", quarantine, mode="overwrite")
    return {"rows_in": len(raw), "cleaned": len(cleaned), "quarantined": len(quarantine)}


def gx_alone(path: str) -> dict:
    """The same rules as a GX 1.x suite on the file as read (numbers and ISO dates typed, no cleaning):
    counts of failing rows per expectation, nothing written."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import great_expectations.expectations as gxe

    fmt = _patterns()
    today = pd.Timestamp.now().normalize().to_pydatetime()
    # as a GX user reads a messy file: pandas' reader, everything as text, the null tokens as missing
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=NULLS)
    for c in ("customer_id", "income"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    for c in ("date_of_birth", "created_date"):
        df[c] = pd.to_datetime(df[c], format="ISO8601", errors="coerce")
    required = [c for c in COLUMNS if c not in ("phone", "income")]
    suite = [gxe.ExpectColumnValuesToNotBeNull(column=c) for c in required]
    suite += [
        gxe.ExpectColumnValuesToBeUnique(column="customer_id"),
        gxe.ExpectColumnValuesToBeBetween(column="customer_id", min_value=1),
        gxe.ExpectColumnValuesToBeBetween(column="income", min_value=0, max_value=10_000_000),
        gxe.ExpectColumnValuesToBeBetween(
            column="date_of_birth", min_value=pd.Timestamp("1900-01-01"), max_value=today
        ),
        gxe.ExpectColumnValuesToBeBetween(column="created_date", min_value=pd.Timestamp("2000-01-01"), max_value=today),
        gxe.ExpectColumnValueLengthsToBeBetween(column="address", min_value=10, max_value=200),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=fmt["email"]),
        gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=fmt["phone"]),
        gxe.ExpectColumnValuesToBeInSet(column="account_status", value_set=STATUSES),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="created_date", column_B="date_of_birth", ignore_row_if="either_value_is_missing"
        ),
    ]
    for c in ("first_name", "last_name"):
        suite += [
            gxe.ExpectColumnValueLengthsToBeBetween(column=c, min_value=2, max_value=50),
            gxe.ExpectColumnValuesToMatchRegex(column=c, regex=fmt["alphabetic"]),
        ]
    ctx = gx.get_context(mode="ephemeral")
    batch = ctx.data_sources.add_pandas("file").add_dataframe_asset("customers")
    batch = batch.add_batch_definition_whole_dataframe("whole").get_batch(batch_parameters={"dataframe": df})
    # GX's default result format (SUMMARY: counts plus sample values), as a user without tuning gets it
    result = batch.validate(gx.ExpectationSuite(name="customers", expectations=suite))
    failing = {
        f"{r.expectation_config.type}:{r.expectation_config.kwargs.get('column', '')}": r.result.get("unexpected_count")
        for r in result.results
        if not r.success
    }
    return {"rows_in": len(df), "expectations": len(result.results), "failing": failing}


def floor(path: str, out: str, writes: int = 3) -> dict:
    """Read the file once with pyarrow (all text, as the raw layer holds it), write it `writes` times to Delta:
    the job writes three full-size layers (raw, cleaned, masked)."""
    from deltalake import write_deltalake

    opts = pacsv.ConvertOptions(column_types=dict.fromkeys(COLUMNS, pa.string()))
    table = pacsv.read_csv(path, convert_options=opts)
    for i in range(writes):
        write_deltalake(f"{out}/layer_{i}", table, mode="overwrite")
    return {"rows_in": table.num_rows, "writes": writes}


def main() -> None:
    kind, path, out = sys.argv[1:4]
    if kind == "handwritten":
        result = handwritten(path, out)
    elif kind == "gx":
        result = gx_alone(path)
    elif kind == "floor":
        result = floor(path, out, int(os.environ.get("DQ_BENCH_FLOOR_WRITES", "3")))
    else:
        raise SystemExit(f"unknown peer {kind!r}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
