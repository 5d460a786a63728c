"""Profiles of raw and cleaned data: exact numbers on constructed frames, PII kept out of them.

The raw frame below is messy on purpose (null tokens with spaces, decorated numbers, dates in
several formats, an impossible date, phones in many spellings); every expected number is
worked out by hand in the comments.
"""

from __future__ import annotations

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dq_platform.defs.layers import profile_metadata
from dq_platform.engine import profiling
from dq_platform.engine.cleaning import normalize_phone
from dq_platform.engine.profiling import profile_frame

CANARIES = [
    "canary.person@example.org",
    "Zebulonqx",
    "1911-11-11",
    "987654321",
    "2125550199",
    "555-0199",
    "Canaryvej 42",
]


def raw_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["987654321", "2", "3", "4", "5", "6", "7", " 8 "],
            "first_name": ["Zebulonqx", "Zebulonqx", "Zebulonqx", "Ann", "Bo", "Cy", "Di", "Ed"],
            "last_name": ["Smith"] * 8,
            "email": [
                "a@x.com",
                "b@y.org",
                "not-an-email",
                "canary.person@example.org",
                "A@X.COM",
                "c@z.net",
                None,
                "d@w.io",
            ],
            "phone": [
                "(212) 555-0199",
                "212-555-0100",
                "555-0100",
                "N/A",
                "+1 646 555 0123",
                "12345",
                "6465550124",
                "1-800-555-0000",
            ],
            "date_of_birth": [
                "1911-11-11",
                "1980-05-05",
                "1990-13-01",
                "1985-02-28",
                "1970-01-01",
                "1960-06-30",
                "1975-07-07",
                "1999-12-31",
            ],
            "address": ["Canaryvej 42, 2100 Copenhagen"] * 8,
            "income": ["1000", "2000", "3000", "4000", "NULL", " n/a ", "$5,000", "abc"],
            "account_status": ["active", "active", "Active", "inactive", " suspended ", "active", "-", "closed"],
            "created_date": [
                "2020-01-01",
                "2020-01-01",
                "2020/02/01",
                "03/15/2020",
                "2023-02-30",
                "2021-06-01T10:30:00",
                "",
                "2020-01-01",
            ],
        },
        dtype="string",
    )


def test_raw_profile_numbers_by_hand(customers):
    p = profile_frame(raw_frame(), customers, "raw")
    assert p.rows == 8 and p.layer == "raw" and p.inference == "inferred on every value"

    income = p.column("income")  # NULL and " n/a " are null tokens after trimming: 6 present
    assert (income.non_null, income.completeness, income.null_rate, income.distinct) == (6, 0.75, 0.25, 6)
    # numbers as the cleaner reads them: 1000 2000 3000 4000 and $5,000 (abc is not one)
    assert income.stats == {
        "min": 1000.0,
        "max": 5000.0,
        "mean": 3000.0,
        "std": 1581.13883,
        "p05": 1200.0,
        "p25": 2000.0,
        "p50": 3000.0,
        "p75": 4000.0,
        "p95": 4800.0,
    }
    assert income.type_shares == {"integer": 0.666667, "float": 0.833333, "date": 0.0, "timestamp": 0.0, "boolean": 0.0}
    assert (income.inferred_type, income.inferred_share) == ("float", 0.833333)
    assert income.top_values is None and income.note == "every value is distinct"

    status = p.column("account_status")  # "-" is a null token; case is kept in raw: Active != active
    assert (status.non_null, status.distinct) == (7, 5)
    assert status.top_values == [["active", 3], ["Active", 1], ["inactive", 1], ["suspended", 1], ["closed", 1]]
    assert status.inferred_type == "string"

    created = p.column("created_date")  # 2023-02-30 is no date; the ISO timestamp is one, with a time
    assert (created.non_null, created.distinct, created.format, created.format_share) == (7, 5, "date", 0.857143)
    assert (created.type_shares["date"], created.type_shares["timestamp"]) == (0.714286, 0.142857)
    # parsed days: 2020-01-01 x3, 2020-02-01, 2020-03-15, 2021-06-01 -> median between 01-01 and 02-01
    assert (created.stats["min"], created.stats["max"], created.stats["p50"]) == (
        "2020-01-01",
        "2021-06-01",
        "2020-01-16",
    )
    assert created.top_values[0] == ["2020-01-01", 3]

    email = p.column("email")
    assert (email.non_null, email.distinct, email.format_share) == (7, 7, 0.857143)  # not-an-email fails
    phone = p.column("phone")  # 555-0100 and 12345 have too few digits; +1 646... and 1-800-... are fine
    assert (phone.non_null, phone.format_share) == (7, 0.714286)
    dob = p.column("date_of_birth")  # month 13 is no date
    assert (dob.format_share, dob.inferred_type) == (0.875, "date")
    ids = p.column("customer_id")  # " 8 " is trimmed: all 8 are integers
    assert (ids.inferred_type, ids.inferred_share, ids.distinct) == ("integer", 1.0, 8)


def test_cleaned_profile_numbers_by_hand(customers):
    frame = pd.DataFrame(
        {
            "customer_id": pd.array([1, 2, 3, 987654321, 5], dtype="Int64"),
            "first_name": pd.array(["Zebulonqx"] * 3 + ["Ann", "Bo"], dtype="string"),
            "last_name": pd.array(["Smith"] * 5, dtype="string"),
            "email": pd.array(["a@x.com", "canary.person@example.org", "c@z.net", "d@w.io", "e@v.eu"], dtype="string"),
            "phone": pd.array(["212-555-0199", None, "646-555-0123", "212-555-0100", "646-555-0124"], dtype="string"),
            "date_of_birth": pd.to_datetime(["1911-11-11", "1980-05-05", "1985-02-28", "1970-01-01", "1960-06-30"]),
            "address": pd.array(["Canaryvej 42, 2100 Copenhagen"] * 5, dtype="string"),
            "income": pd.array([10.0, 20.0, 30.0, 40.0, None], dtype="Float64"),
            "account_status": pd.array(["active", "active", "inactive", "active", "suspended"], dtype="string"),
            "created_date": pd.to_datetime(["2020-01-01", "2020-01-01", "2020-01-03", "2020-01-05", "2020-01-09"]),
            "_outliers": pd.array([None] * 5, dtype="string"),
        }
    )
    p = profile_frame(frame, customers, "cleaned")
    income = p.column("income")
    assert (income.non_null, income.null_rate, income.distinct, income.inferred_type) == (4, 0.2, 4, "float")
    # linear percentiles of 10 20 30 40: p05 = 10 + 0.15 x 10, ...; sample std = sqrt(500/3)
    assert income.stats == {
        "min": 10.0,
        "max": 40.0,
        "mean": 25.0,
        "std": 12.90994449,
        "p05": 11.5,
        "p25": 17.5,
        "p50": 25.0,
        "p75": 32.5,
        "p95": 38.5,
    }
    created = p.column("created_date")
    assert created.stats["min"] == "2020-01-01" and created.stats["p50"] == "2020-01-03"
    assert created.stats["std_days"] == 3.346640106 and created.top_values[0] == ["2020-01-01", 2]
    assert p.column("account_status").top_values == [["active", 3], ["inactive", 1], ["suspended", 1]]
    assert (p.column("phone").null_rate, p.column("phone").format_share) == (0.2, 1.0)
    assert p.column("email").format_share == 1.0 and p.column("customer_id").distinct == 5
    assert [c.name for c in p.columns] == [c.name for c in customers.columns]  # lineage columns are not profiled


@pytest.mark.parametrize("layer", ["raw", "cleaned"])
def test_pii_columns_hold_counts_and_shares_only_and_no_pii_value_reaches_metadata(customers, layer):
    frame = raw_frame()
    if layer == "cleaned":
        from dq_platform.engine import rules

        frame = rules.evaluate(
            frame.assign(_source_line=np.arange(2, 10)), customers, today=pd.Timestamp("2025-01-01")
        ).cleaned
        assert len(frame) == 3 and frame["first_name"].eq("Zebulonqx").sum() == 2  # the canaries survived cleaning
        assert frame["customer_id"].max() == 987654321 and str(frame["date_of_birth"].min().date()) == "1911-11-11"
    p = profile_frame(frame, customers, layer)
    for c in customers.pii_columns:
        prof = p.column(c.name)
        assert prof.stats is None and prof.top_values is None, c.name
        assert prof.distinct > 0 and prof.completeness is not None
    assert p.column("income").stats is not None  # not PII: its numbers are shown
    meta = profile_metadata(p)
    assert f"profile/{'customer_id'}/mean" not in meta and "profile/income/mean" in meta
    text = json.dumps({k: getattr(v, "value", v) for k, v in meta.items()}, default=str)
    leaked = [c for c in CANARIES if c.lower() in text.lower()]
    assert not leaked, leaked


def test_metadata_keys_other_checks_read(customers):
    meta = profile_metadata(profile_frame(raw_frame(), customers, "raw"))
    assert meta["profile/income/null_rate"] == 0.25 and isinstance(meta["profile/income/null_rate"], float)
    assert meta["profile/account_status/distinct"] == 5 and meta["profile/income/mean"] == 3000.0
    assert isinstance(meta["profile"], dg.MarkdownMetadataValue) and isinstance(
        meta["profile/json"], dg.JsonMetadataValue
    )
    assert "| income | float → float (83.3%) | 75.00% | 6 |" in meta["profile"].value
    assert "| email 🔒 | string → string | 87.50% | 7 | 85.71% email | (PII) |" in meta["profile"].value
    assert isinstance(meta["seconds/profile"], float)


def test_the_phone_pattern_accepts_exactly_what_the_cleaner_normalizes():
    phones = [
        "(212) 555-0199",
        "212.555.0199",
        "+1 212 555 0199",
        "1-212-555-0199",
        "12125550199",
        "2125550199",
        "212-555-019",
        "112-555-0199",
        "212-155-0199",
        "2-1-2-5-5-5-0-1-9-9",
        "ext 212 555 0199 x",
        "+44 20 7946 0958",
        "21255501999",
        "phone",
        "0212 555 0199",
        "1 (800) 555-0000",
    ]
    s = pd.Series(phones, dtype="string")
    _, invalid = normalize_phone(s)
    import pyarrow as pa
    import pyarrow.compute as pc

    ours = pc.match_substring_regex(pa.array(phones), profiling._PHONE_NORMALIZABLE).to_pylist()
    assert ours == (~invalid).tolist()


def test_large_frames_sample_type_inference_only_and_threads_change_nothing(customers):
    n = 120_000  # more distinct ids than infer_sample(n) = 12,000 (10%): their types are judged on a sample
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": pd.array(np.arange(n).astype(str), dtype="string"),
            "income": pd.array(np.round(rng.lognormal(10, 1, n), 2).astype(str), dtype="string"),
            "account_status": pd.array(rng.choice(["active", "inactive", "NULL"], n), dtype="string"),
        }
    )
    one = profile_frame(frame, customers, "raw", threads=1)
    many = profile_frame(frame, customers, "raw", threads=4)
    assert one.to_dict() == many.to_dict()
    ids = one.column("customer_id")
    assert ids.distinct == n and ids.inference_sample == 12_000 and ids.type_shares["integer"] == 1.0
    assert one.column("account_status").inference_sample is None  # 2 distinct values: judged on all rows
    assert one.column("account_status").null_rate == pytest.approx((frame["account_status"] == "NULL").mean(), abs=1e-6)
    assert "drawn with seed 0: customer_id, income)" in one.inference
    assert one.column("email").note == "column missing from the file" and one.column("email").null_rate == 1.0


@pytest.mark.slow
def test_raw_and_cleaned_materializations_carry_the_profile_and_no_pii_value(project, instance):
    from dq_platform_tests.test_pipeline import customer_frame

    frame = customer_frame(40)
    frame.loc[5, ["customer_id", "first_name", "email", "phone", "date_of_birth", "address"]] = [
        "987654321",
        "Zebulonqx",
        "canary.person@example.org",
        "(212) 555-0199",
        "1911-11-11",
        "Canaryvej 42, 2100 Copenhagen",
    ]
    frame.loc[[6, 7], "first_name"] = "Zebulonqx"
    frame.loc[8, "income"] = "NULL"
    out = project.ingest(instance, "customers", project.write_csv("customers/canary.csv", frame))
    assert out.success, out.error
    assert project.wh().read("cleaned_customers", partition=out.partition)["customer_id"].max() == 987654321

    for asset, rows in (("raw_customers", 40), ("cleaned_customers", 40)):
        meta = {
            k: getattr(v, "value", v)
            for k, v in instance.get_latest_materialization_event(
                dg.AssetKey(asset)
            ).asset_materialization.metadata.items()
        }
        assert meta["profile/json"]["rows"] == rows and meta["profile/json"]["layer"] == asset.split("_")[0]
        assert meta["profile/income/null_rate"] == 0.025 and meta["profile/account_status/distinct"] == 3
        assert meta["profile/income/mean"] == pytest.approx(frame["income"].drop(8).astype(float).mean())
        assert meta["profile/first_name/distinct"] == 7 and "profile/customer_id/mean" not in meta
        assert "| income | float → float |" in meta["profile"] and isinstance(meta["seconds/profile"], float)
    # nothing of the run (materializations, checks, logs) carries a PII value
    text = "\n".join(str(r.event_log_entry) for r in instance.get_records_for_run(out.run_id).records)
    assert "profile/email/distinct" in text
    leaked = [c for c in CANARIES if c.lower() in text.lower()]
    assert not leaked, leaked


def test_top_values_that_look_like_pii_are_withheld_even_in_a_column_not_declared_pii():
    from dq_platform.contract import parse_contract

    contract = parse_contract("""
name: notes
description: A contract that forgot to declare a column as PII.
owner: team:test
source: {pattern: "notes/*.csv"}
columns:
  - {name: note, type: string}
  - {name: kind, type: string}
""")
    frame = pd.DataFrame(
        {"note": ["mail jane.doe@corp.com"] * 3 + ["call me", "call me", "ok"], "kind": ["a", "a", "b", "b", "b", "c"]},
        dtype="string",
    )
    p = profile_frame(frame, contract, "raw")
    note = p.column("note")
    assert note.top_values is None and note.distinct == 3
    assert note.note == "top values withheld: they look like PII (email); declare the column's pii"
    assert p.column("kind").top_values == [["b", 3], ["a", 2], ["c", 1]]
    assert "jane.doe" not in json.dumps({k: getattr(v, "value", v) for k, v in profile_metadata(p).items()})


@pytest.mark.parametrize("kind", ["date", "timestamp"])
def test_date_share_parses_exactly_what_the_cleaner_parses(kind):
    """The profile parses canonical ISO values with Arrow (checked against the text) and the rest
    with the cleaner's parser: every value gets the cleaner's answer."""
    import pyarrow as pa

    from dq_platform.contract import parse_contract
    from dq_platform.engine.cleaning import parse_dates
    from dq_platform.engine.formats import DEFAULT_DATE_FORMATS

    col = parse_contract(f"""
name: t
description: t
owner: team:t
source: {{pattern: "t/*.csv"}}
columns: [{{name: x, type: {kind}}}]
""").column("x")
    values = [
        "2024-11-14T09:14:00",
        "2024-11-14 09:14:00",
        "2023-02-30T10:00:00",
        "2024-01-01T24:00:00",
        "2024-01-01T23:59:60",
        "2024-01-01",
        "2024-01-01T10:00:00Z",
        "2024-01-01T10:00:00+02:00",
        "03/04/2021 10:00",
        "03/04/2021",
        "garbage",
        "2024-13-01T00:00:00",
        "2024-01-01T10:61:00",
        "1999-12-31T23:59:59",
        "2023-02-29",
        "2024-02-29",
        "20240229",
        "4 Mar 2021",
        "3283-05-01",
    ]
    ours = profiling._parse_temporal(pa.array(values), col)
    cleaner = parse_dates(pd.Series(values, dtype="string"), DEFAULT_DATE_FORMATS, keep_time=True)
    assert [str(v) for v in ours] == [str(v) for v in cleaner.to_numpy(dtype="datetime64[ns]")]
    assert int((~np.isnat(ours)).sum()) == 10
