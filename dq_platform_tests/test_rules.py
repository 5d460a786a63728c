"""Each row rule and each cleaning normalizer, on small frames with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from dq_platform.contract import parse_contract
from dq_platform.engine import rules
from dq_platform.engine.cleaning import normalize_phone, parse_dates
from dq_platform.engine.formats import DEFAULT_DATE_FORMATS


def contract_with(columns_yaml: str, extra: str = ""):
    return parse_contract(f"""
name: t
description: test
owner: team:t
source: {{pattern: "t/*.csv"}}
columns:
{columns_yaml}
{extra}
""")


def run(contract, **cols):
    raw = pd.DataFrame({k: pd.Series(v, dtype="string") for k, v in cols.items()})
    raw[rules.SOURCE_LINE] = range(2, 2 + len(raw))
    return rules.evaluate(raw, contract, today=pd.Timestamp("2025-06-01"))


def failed(result) -> dict[int, str]:
    """source line -> failed rule ids"""
    q = result.quarantine
    return dict(zip(q[rules.SOURCE_LINE], q[rules.FAILED_RULES]))


@pytest.mark.parametrize(
    "column,values,bad_lines,rule",
    [
        ("{name: x, type: integer, required: true}", ["1", "", " ", "NULL"], [3, 4, 5], "x:required"),
        ("{name: x, type: integer}", ["1", "1.5", "abc", "2.0", "1,000"], [3, 4], "x:type"),
        ("{name: x, type: float, min: 0}", ["0", "-0.01", "5"], [3], "x:min"),
        ("{name: x, type: float, max: 10}", ["10", "10.5", "$9"], [3], "x:max"),
        ("{name: x, type: string, min_length: 2}", ["ab", "a", " a "], [3, 4], "x:min_length"),
        ("{name: x, type: string, max_length: 3}", ["abc", "abcd"], [3], "x:max_length"),
        ("{name: x, type: string, pattern: '^TX[0-9]{3}$'}", ["TX123", "TX12", "tx123"], [3, 4], "x:pattern"),
        ("{name: x, type: string, format: email}", ["a@b.co", "a@b", "ab.co", "a b@c.de"], [3, 4, 5], "x:format"),
        ("{name: x, type: string, format: alphabetic}", ["Anne-Marie", "O'Neil", "B0b", "R2"], [4, 5], "x:format"),
        ("{name: x, type: string, allowed_values: [a, b]}", ["a", "c", "b"], [3], "x:allowed_values"),
        ("{name: x, type: date}", ["2020-01-31", "2023-02-30", "31/31/2020", "yesterday"], [3, 4, 5], "x:type"),
        ("{name: x, type: date, min: '2000-01-01'}", ["1999-12-31", "2000-01-01"], [2], "x:min"),
        ("{name: x, type: date, not_in_future: true}", ["2025-06-01", "2025-06-02"], [3], "x:not_in_future"),
        ("{name: x, type: boolean}", ["yes", "N", "maybe", "1"], [4], "x:type"),
        ("{name: x, type: string, format: phone}", ["555-234-5678", "123-456-7890", "555-234-567"], [3, 4], "x:type"),
        ("{name: x, type: integer, unique: true}", ["1", "2", "1", "3", "2"], [4, 6], "x:unique"),
    ],
)
def test_each_rule_type(column, values, bad_lines, rule):
    result = run(contract_with(f"  - {column}"), x=values)
    assert failed(result) == {line: rule for line in bad_lines}
    assert len(result.cleaned) + len(result.quarantine) == len(values)
    assert result.failures == {rule: len(bad_lines)}


def test_expression_rule_is_judged_only_when_its_columns_are_present():
    c = contract_with(
        "  - {name: born, type: date}\n  - {name: opened, type: date}",
        "rules:\n  - {id: opened_after_birth, expression: opened > born, description: opened before birth}",
    )
    r = run(c, born=["1990-01-01", "1990-01-01", None], opened=["2000-01-01", "1980-01-01", "2000-01-01"])
    assert failed(r) == {3: "opened_after_birth"}
    assert r.quarantine[rules.REASON].iloc[0] == "opened before birth"


def test_unique_is_judged_among_valid_rows_only():
    c = contract_with("  - {name: id, type: integer, unique: true}\n  - {name: v, type: float, min: 0}")
    r = run(c, id=["1", "1", "1"], v=["-1", "5", "6"])  # first occurrence is invalid for another reason
    assert failed(r) == {2: "v:min", 4: "id:unique"}
    assert r.cleaned["id"].tolist() == [1]


def test_unique_dataset_also_rejects_values_other_published_files_hold():
    raw = pd.DataFrame({"id": pd.Series(["1", "2", "3", "3", None], dtype="string")})
    raw[rules.SOURCE_LINE] = range(2, 7)
    published = {"id": pd.Series([2, 3, 99])}  # what the dataset's other published files hold
    across = contract_with("  - {name: id, type: integer, unique: dataset}")
    r = rules.evaluate(raw, across, today=pd.Timestamp("2025-06-01"), published=published)
    assert failed(r) == {3: "id:unique_in_dataset", 4: "id:unique_in_dataset", 5: "id:unique; id:unique_in_dataset"}
    assert r.cleaned["id"].tolist()[:1] == [1] and len(r.cleaned) == 2  # 1 and the null (not required)
    assert set(r.quarantine[rules.REASON]) >= {"id: already published by another file of t"}
    assert r.failures == {"id:unique": 1, "id:unique_in_dataset": 3}
    # `unique: true` is about the file alone: the same published values change nothing
    within = contract_with("  - {name: id, type: integer, unique: true}")
    assert failed(rules.evaluate(raw, within, today=pd.Timestamp("2025-06-01"), published=published)) == {
        5: "id:unique"
    }


def test_quarantine_keeps_original_text_every_rule_and_a_reason():
    c = contract_with(
        "  - {name: id, type: integer, min: 1}\n  - {name: mail, type: string, format: email, cleaning: {case: lower}}"
    )
    r = run(c, id=["-3"], mail=["  Not An Email "])
    q = r.quarantine.iloc[0]
    assert q["id"] == "-3" and q["mail"] == "  Not An Email "  # exactly as received
    assert q[rules.FAILED_RULES] == "id:min; mail:format"
    assert q[rules.REASON] == "id: below the minimum 1; mail: not a valid email address"


def test_missing_value_policies():
    c = contract_with(
        "  - {name: a, type: string, required: true}\n"
        "  - {name: b, type: float}\n"
        "  - {name: c, type: string, missing: {policy: default, default: unknown}}\n"
        "  - {name: d, type: integer, missing: {policy: reject}}"
    )
    r = run(c, a=["x", "N/A"], b=["", "1"], c=["", "z"], d=["", "2"])
    assert failed(r) == {2: "d:required", 3: "a:required"}
    c2 = contract_with(
        "  - {name: b, type: float}\n  - {name: c, type: string, missing: {policy: default, default: unknown}}"
    )
    r2 = run(c2, b=["", "1"], c=["-", "z"])
    assert r2.cleaned["b"].isna().tolist() == [True, False]
    assert r2.cleaned["c"].tolist() == ["unknown", "z"]


def test_missing_column_in_file_quarantines_required_only():
    c = contract_with("  - {name: a, type: string, required: true}\n  - {name: b, type: string}")
    r = run(c, b=["x", "y"])
    assert set(failed(r).values()) == {"a:present; a:required"}


def test_parse_errors_go_to_quarantine():
    c = contract_with("  - {name: a, type: string}")
    raw = pd.DataFrame(
        {
            "a": pd.Series(["x", None], dtype="string"),
            rules.PARSE_ERROR: pd.Series([None, "expected 1 fields, found 3"], dtype="string"),
            rules.SOURCE_LINE: [2, 3],
        }
    )
    r = rules.evaluate(raw, c)
    assert failed(r) == {3: rules.PARSE_RULE}


def test_casing_trimming_and_typing_in_cleaned():
    c = contract_with(
        "  - {name: name, type: string, cleaning: {case: title}}\n"
        "  - {name: mail, type: string, cleaning: {case: lower}}\n"
        "  - {name: code, type: string, cleaning: {case: upper}}\n"
        "  - {name: n, type: integer}\n  - {name: f, type: float}\n  - {name: d, type: date}"
    )
    r = run(c, name=["  mary   ann  "], mail=[" A@B.COM"], code=["usd "], n=["42.0"], f=["$1,234.50"], d=["03/04/2021"])
    row = r.cleaned.iloc[0]
    assert (row["name"], row["mail"], row["code"], row["n"], row["f"]) == ("Mary Ann", "a@b.com", "USD", 42, 1234.5)
    assert row["d"] == pd.Timestamp("2021-03-04")
    assert str(r.cleaned["n"].dtype) == "Int64" and str(r.cleaned["d"].dtype) == "datetime64[ns]"


def test_phone_normalizer_accepts_common_formats():
    s = pd.Series(
        [
            "(555) 234-5678",
            "555.234.5678",
            "+1 555 234 5678",
            "15552345678",
            "555 234 5678",
            "234-5678",
            "055-234-5678",
            "555-134-5678",
            None,
        ],
        dtype="string",
    )
    values, invalid = normalize_phone(s)
    assert values.tolist()[:5] == ["555-234-5678"] * 5
    assert invalid.tolist() == [False] * 5 + [True, True, True, False]


def test_date_parser_accepts_common_formats_and_rejects_impossible_dates():
    s = pd.Series(
        [
            "2021-03-04",
            "2021/03/04",
            "03/04/2021",
            "04.03.2021",
            "20210304",
            "4 Mar 2021",
            "Mar 4, 2021",
            "04-Mar-2021",
            "2021-03-04T10:00:00Z",
            "2021-02-29",
            "13/45/2021",
        ],
        dtype="string",
    )
    out = parse_dates(s, DEFAULT_DATE_FORMATS, keep_time=False)
    assert (out.iloc[:9] == pd.Timestamp("2021-03-04")).all()
    assert out.iloc[9:].isna().all()


def test_dates_beyond_the_cleaned_dtype_are_reported_not_a_crash(customers):
    """pandas 3 parses year 3283 at a coarser unit; datetime64[ns] ends in 2262: such a value is
    unparseable (quarantined with its rule), never an OutOfBoundsDatetime that fails the run."""
    s = pd.Series(["3283-05-01", "01/01/3000", "2262-04-11", "2300-01-01T10:00:00Z"], dtype="string")
    assert parse_dates(s, DEFAULT_DATE_FORMATS, keep_time=True).isna().tolist() == [True, True, False, True]
    from dq_platform_tests.test_pipeline import customer_frame

    raw = customer_frame(3).astype("string").assign(_source_line=[2, 3, 4])
    raw.loc[1, "created_date"] = "3283-05-01"
    result = rules.evaluate(raw, customers)
    assert len(result.cleaned) == 2 and result.quarantine["_failed_rules"].tolist() == ["created_date:type"]


def test_timestamps_keep_time_and_normalize_to_utc():
    s = pd.Series(["2024-05-01T10:30:00+02:00", "2024-05-01 08:30:00"], dtype="string")
    out = parse_dates(s, DEFAULT_DATE_FORMATS, keep_time=True)
    assert out.tolist() == [pd.Timestamp("2024-05-01 08:30:00")] * 2


def test_every_row_lands_in_exactly_one_output(customers):
    from dq_platform.demo.sample_data import generate

    sample = generate(customers, rows=3000, seed=7, bad_fraction=0.1)
    raw = sample.frame.copy()
    raw[rules.SOURCE_LINE] = range(2, 2 + len(raw))
    r = rules.evaluate(raw, customers)
    assert len(r.cleaned) + len(r.quarantine) == 3000
    lines = pd.concat([r.cleaned[rules.SOURCE_LINE], r.quarantine[rules.SOURCE_LINE]])
    assert lines.is_unique and set(lines) == set(raw[rules.SOURCE_LINE])
    # every injected fault is caught; clean rows (incl. cosmetically dirty ones) are kept
    faulty_lines = set(raw.loc[sample.faults.notna().to_numpy(), rules.SOURCE_LINE])
    assert set(r.quarantine[rules.SOURCE_LINE]) == faulty_lines


def test_an_unparseable_line_reports_the_parse_error_alone():
    c = contract_with("  - {name: a, type: string, required: true}\n  - {name: b, type: integer, required: true}")
    raw = pd.DataFrame(
        {
            "a": pd.Series(["x", None], dtype="string"),
            "b": pd.Series(["1", None], dtype="string"),
            rules.PARSE_ERROR: pd.Series([None, "expected 2 fields, found 5"], dtype="string"),
            rules.SOURCE_LINE: [2, 3],
        }
    )
    r = rules.evaluate(raw, c)
    assert failed(r) == {3: rules.PARSE_RULE}
    assert r.failures == {rules.PARSE_RULE: 1}


def test_iso_first_default_date_order_parses_every_value_as_the_declared_order_does():
    """Trying ISO 8601 first (fast for timestamps) must not change any value's date."""
    from dq_platform.engine.cleaning import ISO_FIRST_DATE_FORMATS, parse_dates
    from dq_platform.engine.formats import DEFAULT_DATE_FORMATS

    values = [
        "2024-03-01",
        "2024-3-1",
        "20240301",
        "2023-02-30",
        "2024-03-01 10:00",
        "2024-03-01T10:00:00Z",
        "2024-03-01T10:00:00+02:00",
        "03/04/2021",
        "04.03.2021",
        "1 Mar 2021",
        "Mar 1, 2021",
        "01-Mar-2021",
        "2024/03/01",
        "2024-13-01",
        "2024-03-01T25:00",
        "2024-03-01T10:00:00.123456",
        "2024-W09",
        "2024",
        "2024-03",
        "12:00",
        "0001-01-01",
        "9999-12-31",
        None,
    ]
    s = pd.Series(values, dtype="string")
    for keep_time in (True, False):
        declared = parse_dates(s, DEFAULT_DATE_FORMATS, keep_time)
        iso_first = parse_dates(s, ISO_FIRST_DATE_FORMATS, keep_time)
        assert declared.equals(iso_first), keep_time
    assert parse_dates(s, ISO_FIRST_DATE_FORMATS, True)[6] == pd.Timestamp("2024-03-01 08:00:00")  # to UTC
