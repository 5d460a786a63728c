"""The two cleaned-layer gates (pandera, Great Expectations) agree with the contract and each
other, tolerate lineage columns, and never let a data value into their results."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from dq_platform.contract import Format, load_contracts, parse_contract
from dq_platform.engine.gx_gate import _gx_context, gx_suite, run_gx
from dq_platform.engine.pandera_gate import pandera_schema, run_pandera
from dq_platform.engine.validation import CLEANED_DTYPES, FORMAT_PATTERNS, GateResult

GATES = {"pandera": run_pandera, "gx": run_gx}


@pytest.fixture(scope="module")
def contracts():
    return {c.name: c for c in load_contracts()}


@pytest.fixture(scope="module")
def customers(contracts):
    return contracts["customers"]


@pytest.fixture(scope="module")
def sales(contracts):
    return contracts["sales_transactions"]


def cleaned(contract, rows: list[dict]) -> pd.DataFrame:
    """A cleaned frame by the convention: contract order, CLEANED_DTYPES, nulls as NA/NaT."""
    data = {}
    for col in contract.columns:
        values = [r.get(col.name) for r in rows]
        dtype = CLEANED_DTYPES[col.type]
        if dtype.startswith("datetime64"):
            data[col.name] = pd.Series(pd.to_datetime(values)).astype(dtype)
        else:
            data[col.name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(data)


CUSTOMER_ROWS = [
    dict(
        customer_id=1,
        first_name="Alice",
        last_name="Smith",
        email="alice.smith@example.com",
        phone="555-123-4567",
        date_of_birth="1985-04-12",
        address="12 Main Street, Springfield, IL 62704",
        income=52000.5,
        account_status="active",
        created_date="2015-06-01",
    ),
    dict(
        customer_id=2,
        first_name="José",
        last_name="O'Neil",
        email="jose+bank@mail.example.org",
        phone=None,
        date_of_birth="1990-12-31",
        address="9 Rue de la Paix, Paris 75002",
        income=None,
        account_status="inactive",
        created_date="2010-01-15",
    ),
    dict(
        customer_id=3,
        first_name="Mary-Jane",
        last_name="St. John",
        email="mj@example.co.uk",
        phone="212-555-0000",
        date_of_birth="1900-01-01",
        address="1 Infinite Loop, Cupertino, CA 95014",
        income=0.0,
        account_status="suspended",
        created_date="2000-01-01",
    ),
    dict(
        customer_id=4,
        first_name="Zoë",
        last_name="Øster",
        email="zoe@example.dk",
        phone="303-555-9876",
        date_of_birth="2001-07-04",
        address="Vesterbrogade 1, 1620 København",
        income=10_000_000.0,
        account_status="active",
        created_date="2022-03-03",
    ),
]


@pytest.fixture()
def valid(customers) -> pd.DataFrame:
    return cleaned(customers, CUSTOMER_ROWS)


def by_key(result: GateResult) -> dict[tuple, dict]:
    return {(f["rule"], f["column"]): f for f in result.failures}


def test_cleaned_helper_follows_the_convention(valid, customers):
    assert list(valid.columns) == [c.name for c in customers.columns]
    assert {str(t) for t in valid.dtypes} == {"Int64", "string", "datetime64[ns]", "Float64"}


@pytest.mark.parametrize("gate", GATES)
def test_valid_frame_passes(gate, valid, customers):
    result = GATES[gate](customers, valid)
    assert result.passed, result.failures
    assert result.failures == []
    assert result.stats["evaluated"] > 20
    assert result.stats["successful"] == result.stats["evaluated"]
    assert result.stats["unsuccessful"] == 0
    assert result.stats["rows"] == 4
    assert result.stats["duration_s"] >= 0
    assert "passed" in result.summary and "\n" not in result.summary


@pytest.mark.parametrize("gate", GATES)
def test_lineage_columns_are_tolerated(gate, valid, customers):
    df = valid.assign(
        _source_file="customers/2024-01-01.csv",
        _source_line=np.arange(2, 6),
        _partition=pd.Series(["2024-01-01", None, "2024-01-01", None], dtype=object),
    )
    df.insert(0, "_ingested_at", pd.Timestamp("2024-01-02"))  # position does not matter either
    result = GATES[gate](customers, df)
    assert result.passed, result.failures


def _set(column, value, row=1):
    def mutate(df):
        df.loc[row, column] = value

    return mutate


def _dup_id(df):
    df.loc[1, "customer_id"] = df.loc[0, "customer_id"]


def _two_bad_emails(df):
    df.loc[[0, 3], "email"] = "not-an-email"


TOMORROW = (pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(days=2)).normalize()

VIOLATIONS = [
    # id, mutation, rule, column, failing rows
    ("null_required_string", _set("email", pd.NA), "required", "email", 1),
    ("null_required_date", _set("created_date", pd.NaT, row=2), "required", "created_date", 1),
    ("duplicate_unique", _dup_id, "unique", "customer_id", 2),
    ("below_min_float", _set("income", -0.01), "min", "income", 1),
    ("below_min_int", _set("customer_id", 0, row=3), "min", "customer_id", 1),
    ("below_min_date", _set("date_of_birth", pd.Timestamp("1899-12-31")), "min", "date_of_birth", 1),
    ("above_max", _set("income", 10_000_000.5), "max", "income", 1),
    ("future_date", _set("created_date", TOMORROW), "not_in_future", "created_date", 1),
    ("too_long", _set("address", "Long Street " * 20), "length", "address", 1),
    ("too_short", _set("first_name", "J"), "length", "first_name", 1),
    ("email_format", _set("email", "not-an-email"), "format", "email", 1),
    ("two_email_format", _two_bad_emails, "format", "email", 2),
    ("phone_format", _set("phone", "5551234567"), "format", "phone", 1),
    ("alphabetic_format", _set("last_name", "Sm1th"), "format", "last_name", 1),
    ("not_allowed", _set("account_status", "closed"), "allowed_values", "account_status", 1),
]


@pytest.mark.parametrize("gate", GATES)
@pytest.mark.parametrize("mutate,rule,column,count", [v[1:] for v in VIOLATIONS], ids=[v[0] for v in VIOLATIONS])
def test_each_violation_fails_the_right_check(gate, mutate, rule, column, count, valid, customers):
    df = valid.copy()
    mutate(df)
    assert str(df[column].dtype) == str(valid[column].dtype)  # the mutation kept the dtype
    result = GATES[gate](customers, df)
    assert not result.passed
    found = by_key(result)
    assert set(found) == {(rule, column)}, result.failures
    failure = found[(rule, column)]
    assert failure["kind"] == "rows"
    assert failure["count"] == count
    assert failure["percent"] == pytest.approx(100 * count / len(df))
    assert result.stats["unsuccessful"] == 1
    assert result.stats["successful"] == result.stats["evaluated"] - 1
    assert column in result.summary and "\n" not in result.summary


@pytest.mark.parametrize("gate", GATES)
def test_wrong_dtype_fails_dtype_check(gate, valid, customers):
    df = valid.assign(customer_id=valid["customer_id"].astype("string"))
    result = GATES[gate](customers, df)
    assert not result.passed
    found = by_key(result)
    assert ("dtype", "customer_id") in found, result.failures
    assert found[("dtype", "customer_id")]["kind"] == "schema"
    assert found[("dtype", "customer_id")]["detail"] == "got string"
    # checks that cannot run on the wrong type are reported as errors on the same column
    assert {f["column"] for f in result.failures} == {"customer_id"}


@pytest.mark.parametrize(
    "column,dtype",
    [
        ("customer_id", "int64"),  # numpy, not nullable Int64
        ("income", "float64"),
        ("email", "object"),
        ("account_status", "str"),  # pandas 3 default string dtype (NaN as missing), not "string"
        ("date_of_birth", "datetime64[us]"),  # pandas 3's default resolution when parsing strings
        ("created_date", "datetime64[ns, UTC]"),
    ],
)
def test_pandera_dtype_check_is_exact(column, dtype, valid, customers):
    """pandera's own dtype check accepts most of these; the gate must not."""
    series = valid[column]
    series = series.dt.tz_localize("UTC") if dtype.endswith("UTC]") else series.astype(dtype)
    df = valid.assign(**{column: series})
    result = run_pandera(customers, df)
    assert [(f["rule"], f["column"]) for f in result.failures if f["rule"] == "dtype"] == [("dtype", column)]


@pytest.mark.parametrize("gate", GATES)
def test_missing_column_fails(gate, valid, customers):
    result = GATES[gate](customers, valid.drop(columns=["phone"]).assign(_source_line=1))
    assert not result.passed
    found = by_key(result)
    assert found[("columns", "phone")]["kind"] == "schema"
    assert found[("columns", "phone")]["detail"] == "missing"
    assert {f["column"] for f in result.failures} == {"phone"}


@pytest.mark.parametrize("gate", GATES)
def test_unexpected_non_lineage_column_fails(gate, valid, customers):
    result = GATES[gate](customers, valid.assign(nickname="x"))
    assert set(by_key(result)) == {("columns", "nickname")}
    assert result.failures[0]["detail"] == "unexpected"


def test_sales_pattern_and_allowed_values(sales):
    rows = [
        dict(
            transaction_id=f"TX{i:08d}",
            customer_id=i,
            amount=10.5 * i,
            currency="USD",
            status="completed",
            transaction_ts=f"2024-01-0{i} 12:30:00",
        )
        for i in range(1, 5)
    ]
    df = cleaned(sales, rows)
    for gate in GATES.values():
        assert gate(sales, df).passed
    df.loc[0, "transaction_id"] = "TX123"
    df.loc[1, "currency"] = "JPY"  # currency-shaped but not allowed
    df.loc[2, "currency"] = "usd"  # neither
    for name, gate in GATES.items():
        found = {k: f["count"] for k, f in by_key(gate(sales, df)).items()}
        assert found == {
            ("pattern", "transaction_id"): 1,
            ("allowed_values", "currency"): 2,
            ("format", "currency"): 1,
        }, name


def test_not_in_future_allows_the_rest_of_today_for_timestamps(sales):
    """Like the row rules: a timestamp later today passes, tomorrow's date fails."""
    now = pd.Timestamp("2024-05-10 09:00")
    rows = [
        dict(
            transaction_id=f"TX{i:08d}", customer_id=i, amount=1.0, currency="EUR", status="pending", transaction_ts=ts
        )
        for i, ts in enumerate(["2024-05-10 23:59:59", "2024-05-11 00:00:00", "2024-05-11 00:00:01"], 1)
    ]
    df = cleaned(sales, rows)
    for gate in GATES.values():
        found = {k: f["count"] for k, f in by_key(gate(sales, df, now=now)).items()}
        assert found == {("not_in_future", "transaction_ts"): 1}


NULLABLE_INT = """
name: readings
description: Optional integers exercise GX's slow path (Int64 with NA).
owner: team:test
source: {pattern: "readings/*.csv"}
columns:
  - {name: reading_id, type: integer, required: true, unique: true}
  - {name: level, type: integer, min: 0, max: 10}
  - {name: active, type: boolean}
"""


@pytest.mark.parametrize("gate", GATES)
def test_nullable_integer_and_boolean(gate):
    contract = parse_contract(NULLABLE_INT)
    df = pd.DataFrame(
        {
            "reading_id": pd.array([1, 2, 3, 4], dtype="Int64"),
            "level": pd.array([0, None, 11, 10], dtype="Int64"),
            "active": pd.array([True, None, False, True], dtype="boolean"),
        }
    )
    result = GATES[gate](contract, df)
    assert {k: f["count"] for k, f in by_key(result).items()} == {("max", "level"): 1}


@pytest.mark.parametrize("gate", GATES)
def test_empty_frame_passes(gate, sales):
    result = GATES[gate](sales, cleaned(sales, []))
    assert result.passed, result.failures
    assert result.stats["rows"] == 0


def test_gx_does_not_mutate_input_or_keep_state(valid, customers, sales, monkeypatch):
    import gc
    import weakref

    from dq_platform.engine import gx_gate

    seen = []

    def spy(df):
        frame = real(df)
        seen.append(weakref.ref(frame))
        return frame

    real = gx_gate._gx_frame
    monkeypatch.setattr(gx_gate, "_gx_frame", spy)
    before = valid.dtypes.copy()
    run_gx(customers, valid)
    run_gx(sales, cleaned(sales, []))
    pd.testing.assert_series_equal(valid.dtypes, before)
    gc.collect()
    assert len(seen) == 2 and all(ref() is None for ref in seen)  # GX keeps no frame after a call
    ctx = _gx_context()
    assert len(ctx.data_sources.all()) == 1  # one datasource per process, reused by every call
    assert _gx_context() is ctx  # the context itself is reused


def test_pandera_does_not_touch_the_callers_frame(valid, customers):
    run_pandera(customers, valid)
    assert valid.pandera.schema is None


def test_gx_shows_no_progress_bars(valid, customers, capfd):
    run_gx(customers, valid)
    out, err = capfd.readouterr()
    assert "Calculating Metrics" not in out + err
    assert "%|" not in err


@pytest.mark.parametrize("gate", GATES)
def test_row_positions_not_index_labels(gate, valid, customers):
    df = valid.set_axis([9001, 9002, 9003, 9004])  # an index could be an identifier
    df.loc[9003, "email"] = "nope"
    failure = by_key(GATES[gate](customers, df))[("format", "email")]
    assert failure["count"] == 1
    assert set(failure["rows"]) <= {2}  # GX in BASIC format reports no positions, pandera [2]
    if gate == "pandera":
        assert failure["rows"] == [2]


SECRETS = {
    "email": "leak.secret@@nowhere",
    "first_name": "Zz9Secret",
    "address": "Secretstreet " * 20,
    "phone": "999-SECRET",
    "date_of_birth": pd.Timestamp("1850-03-17"),
    "income": -12345.678,
    "account_status": "hushhush",
}


@pytest.mark.parametrize("gate", GATES)
def test_no_raw_values_in_results(gate, valid, customers):
    df = valid.copy()
    for column, value in SECRETS.items():
        df.loc[2, column] = value
    result = GATES[gate](customers, df)
    failed = {f["column"] for f in result.failures}
    assert failed == set(SECRETS)  # every secret was caught, so the test is not vacuous
    metadata = result.to_metadata()
    text = json.dumps(metadata) + repr(result)
    for needle in ("leak.secret", "Zz9Secret", "Secretstreet", "SECRET", "1850", "12345.678", "hushhush"):
        assert needle not in text, needle


def test_metadata_is_plain(valid, customers):
    df = valid.copy()
    df.loc[0, "email"] = "x"
    for gate in GATES.values():
        md = gate(customers, df).to_metadata()
        assert all(isinstance(v, (bool, int, float, str)) for v in md.values()), md
        assert md["passed"] is False
        assert md["failed_checks"] == 1 and md["unsuccessful"] == 1
        assert md["failures_markdown"].startswith("| rule | column | check |")
        assert "| format | email |" in md["failures_markdown"]
    assert run_pandera(customers, valid).to_metadata()["failures_markdown"] == "No failures."


def test_markdown_escapes_pipes():
    r = GateResult(
        passed=False,
        summary="s",
        failures=[
            dict(check="pattern ^(a|b)$", rule="pattern", column="c", kind="rows", count=1, percent=50.0, rows=[])
        ],
    )
    assert "^(a\\|b)$" in r.to_metadata()["failures_markdown"]


def test_schema_and_suite_shapes(customers):
    schema = pandera_schema(customers)
    assert set(schema.columns) == {c.name for c in customers.columns} | {"^_"}
    assert schema.strict is True
    assert schema.columns["email"].nullable is False and schema.columns["phone"].nullable is True
    assert schema.columns["customer_id"].unique is True
    suite = gx_suite(customers)
    types = [e.expectation_type for e in suite.expectations]
    assert types[0] == "expect_table_columns_to_match_set"
    for t in (
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_unique",
        "expect_column_values_to_be_between",
        "expect_column_value_lengths_to_be_between",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_be_of_type",
    ):
        assert t in types
    assert all(e.meta["rule"] for e in suite.expectations)


FORMAT_CASES = {
    Format.email: (
        ["a@b.co", "first.last+tag@sub.example.org", "X_Y%z@host-1.io"],
        ["plain", "a@b", "a@@b.com", "a b@c.com", "@b.com", "a@b.c"],
    ),
    Format.phone: (["555-123-4567", "000-000-0000"], ["5551234567", "(555) 123-4567", "555-123-456", "555-123-45678"]),
    Format.alphabetic: (
        ["Alice", "José", "O'Neil", "Mary-Jane", "St. John", "Łukasz", "Zoë", "Nguyễn"],
        ["J0hn", "-Ann", "A_B", "×", "Ann!", " Ann"],
    ),
    Format.alphanumeric: (["abc123", "ABC"], ["abc-123", "ab c", "é1"]),
    Format.currency_code: (["USD", "EUR"], ["usd", "US", "USDX", "U5D"]),
    Format.uuid: (
        ["123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000"],
        ["123e4567e89b12d3a456426614174000", "123e4567-e89b-12d3-a456-42661417400g"],
    ),
}


def test_format_patterns_are_the_row_rules_patterns():
    from dq_platform.engine import formats

    assert FORMAT_PATTERNS is formats.FORMAT_PATTERNS


@pytest.mark.filterwarnings("ignore:This pattern is interpreted as a regular expression")
@pytest.mark.parametrize("fmt", list(Format))
def test_format_patterns_agree_across_regex_engines(fmt):
    """Python re and pandas' string dtypes (pyarrow's RE2 underneath) give the same answer,
    so the row rules and both gates agree whatever the frame's string storage."""
    good, bad = FORMAT_CASES[fmt]
    values = good + bad
    expected = [True] * len(good) + [False] * len(bad)
    pattern = FORMAT_PATTERNS[fmt]
    assert [re.search(pattern, v) is not None for v in values] == expected
    for dtype in ("string[pyarrow]", "string[python]", "str"):
        assert pd.Series(values, dtype=dtype).str.contains(pattern).tolist() == expected, dtype
    assert FORMAT_PATTERNS[fmt.value] == pattern  # str keys work too (Format is a str enum)
