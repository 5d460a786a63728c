"""End to end through Dagster: the invariants of docs/architecture.md on real Delta tables.

Nothing lost (raw = cleaned + quarantine, stored), nothing unvalidated published (a failed gate
leaves masked/gold at their last good version), no PII past the masked layer, idempotent
re-runs. Each test materializes the real job with `execute_in_process` on a test instance.
"""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dq_platform.defs.partitions import register
from dq_platform.engine import rules

pytestmark = pytest.mark.slow


def customer_frame(n: int, start: int = 1, bad: int = 0) -> pd.DataFrame:
    """n customers; the last `bad` rows carry one invalid email each."""
    i = np.arange(start, start + n)
    first = np.array(["alice", "bob", "carol", "dave", "erin", "frank"])[i % 6]
    df = pd.DataFrame(
        {
            "customer_id": i.astype(str),
            "first_name": first,
            "last_name": np.array(["smith", "jones", "brown"])[i % 3],
            "email": [f"{f}.{k}@example.com" for f, k in zip(first, i)],
            "phone": [f"(555) 234-{k % 10000:04d}" for k in i],
            "date_of_birth": "1980-01-15",
            "address": [f"{k} Main St, Springfield, IL 62704" for k in i],
            "income": (40_000 + (i % 20) * 1000).astype(str),  # a plausible spread: no statistical outliers
            "account_status": np.array(["active", "inactive", "suspended"])[i % 3],
            "created_date": "2020-03-01",
        }
    )
    if bad:
        df.loc[df.index[-bad:], "email"] = "not-an-email"
    return df


def check_results(outcome) -> dict[str, bool]:
    return {f"{a}.{c}": passed for a, c, passed, _ in outcome.checks}


def test_clean_file_flows_to_gold_with_every_gate_passing(project, instance):
    path = project.write_csv("customers/customers_a.csv", customer_frame(60, bad=3))
    out = project.ingest(instance, "customers", path)
    assert out.success, out.error
    assert out.rows == {"in": 60, "cleaned": 57, "quarantined": 3, "masked": 57}
    assert all(check_results(out).values()), check_results(out)

    wh = project.wh()
    part = out.partition
    q = wh.read("quarantine_customers", partition=part)
    assert sorted(q[rules.SOURCE_LINE]) == [59, 60, 61]  # header is line 1
    assert set(q[rules.FAILED_RULES]) == {"email:format"}
    assert (q[rules.RUN_ID] == out.run_id).all()
    assert (q["email"] == "not-an-email").all()  # original value kept for the reviewer
    masked = wh.read("masked_customers", partition=part)
    assert len(masked) == 57
    assert not masked["email"].isin(customer_frame(60)["email"]).any()
    assert masked["email"].str.endswith("@masked.invalid").all()
    gold = wh.read("customers_by_status")
    assert gold["customers"].sum() == 57


def test_nothing_lost_and_rerun_replaces_instead_of_duplicating(project, instance):
    path = project.write_csv("customers/customers_b.csv", customer_frame(60, bad=5))
    first = project.ingest(instance, "customers", path)
    second = project.ingest(instance, "customers", path)  # same bytes -> same partition
    assert first.partition == second.partition and second.success
    counts = {
        t: project.wh().row_counts(t)[first.partition]
        for t in ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers")
    }
    assert counts == {"raw_customers": 60, "cleaned_customers": 55, "quarantine_customers": 5, "masked_customers": 55}


def test_partitions_are_independent(project, instance):
    a = project.ingest(instance, "customers", project.write_csv("customers/a.csv", customer_frame(30, start=1)))
    b = project.ingest(instance, "customers", project.write_csv("customers/b.csv", customer_frame(20, start=100)))
    assert a.success and b.success
    counts = project.wh().row_counts("masked_customers")
    assert counts == {a.partition: 30, b.partition: 20}
    assert project.wh().read("customers_by_status")["customers"].sum() == 50


def test_failure_rate_gate_holds_back_publication_and_last_good_version_stays(project, instance):
    good = customer_frame(50)
    path = project.write_csv("customers/customers_c.csv", good)
    ok = project.ingest(instance, "customers", path)
    assert ok.success
    wh = project.wh()
    masked_before = wh.table("masked_customers").version()
    gold_before = wh.read("customers_by_status")

    # A new extract where 40% of rows are invalid (contract error level: 25%).
    bad = customer_frame(50, start=500, bad=20)
    bad_out = project.ingest(instance, "customers", project.write_csv("customers/customers_d.csv", bad))
    assert not bad_out.success
    results = check_results(bad_out)
    assert results["cleaned_customers.failure_rate_within_threshold"] is False
    assert bad_out.rows["quarantined"] == 20
    assert "masked" not in bad_out.rows
    # masked and gold were not written: same version, same content
    assert wh.table("masked_customers").version() == masked_before
    assert bad_out.partition not in wh.row_counts("masked_customers")
    pd.testing.assert_frame_equal(wh.read("customers_by_status"), gold_before)
    # ...while nothing is lost: every bad-file row is in cleaned or quarantine
    counts = {
        t: wh.row_counts(t)[bad_out.partition] for t in ("raw_customers", "cleaned_customers", "quarantine_customers")
    }
    assert counts["raw_customers"] == counts["cleaned_customers"] + counts["quarantine_customers"] == 50
    # and the commit of cleaned records that its gates failed
    assert wh.last_commit("cleaned_customers", bad_out.partition)["dq_gates"] == "failed"


def test_warn_level_failure_rate_warns_but_publishes(project, instance):
    out = project.ingest(instance, "customers", project.write_csv("customers/w.csv", customer_frame(100, bad=10)))
    assert out.success  # 10% > warn 5%, < error 25%
    sev = {f"{a}.{c}": (p, s) for a, c, p, s in out.checks}
    assert sev["cleaned_customers.failure_rate_within_threshold"] == (False, "WARN")
    assert out.rows["masked"] == 90


def test_masked_refuses_a_partition_whose_gates_failed_even_when_run_alone(project, instance):
    bad = customer_frame(20, bad=15)
    out = project.ingest(instance, "customers", project.write_csv("customers/e.csv", bad))
    assert not out.success
    # An engineer now materializes masked alone from the UI for that partition.
    result = project.materialize(instance, ["masked_customers"], out.partition)
    assert not result.success
    evals = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evals["masked_source_passed_gates"] is False
    assert out.partition not in project.wh().row_counts("masked_customers")


def test_reconciliation_detects_rows_missing_from_storage(project, instance):
    out = project.ingest(instance, "customers", project.write_csv("customers/f.csv", customer_frame(30)))
    assert out.success
    wh = project.wh()
    # Someone deletes cleaned rows behind the platform's back.
    from deltalake import DeltaTable

    DeltaTable(wh.table_uri("cleaned_customers")).delete("customer_id > 25")
    result = project.materialize(instance, ["masked_customers"], out.partition)
    assert not result.success
    ev = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert ev["masked_source_passed_gates"].passed is False
    assert "30/25/0" in ev["masked_source_passed_gates"].description


LEAKY = """
name: leaky
description: A contract that forgot to declare a column as PII.
owner: team:test
source: {pattern: "leaky/*.csv"}
columns:
  - {name: id, type: integer, required: true, unique: true}
  - {name: note, type: string}
aggregations:
  - name: by_note
    group_by: [note]
    metrics: [{name: n, agg: count}]
"""


def test_pii_leak_gate_blocks_undeclared_pii(make_project, instance):
    project = make_project(LEAKY)
    frame = pd.DataFrame({"id": ["1", "2", "3"], "note": ["call me", "mail jane.doe@corp.com", "4111 1111 1111 1111"]})
    out = project.ingest(instance, "leaky", project.write_csv("leaky/l.csv", frame))
    assert not out.success
    ev = {f"{a}.{c}": p for a, c, p, _ in out.checks}
    assert ev["masked_leaky.masked_has_no_pii"] is False
    assert project.wh().table("masked_leaky") is None  # never written
    assert project.wh().table("leaky_by_note") is None
    # the check's metadata names columns and kinds, never the values
    key = dg.AssetCheckKey(dg.AssetKey("masked_leaky"), "masked_has_no_pii")
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    text = str(record.event.dagster_event.event_specific_data)
    assert "jane.doe" not in text and "4111" not in text
    assert "note/email" in text and "note/card" in text


def test_same_file_under_two_names_is_one_content_two_partitions_keyed_by_hash(project, instance):
    frame = customer_frame(10)
    p1 = project.write_csv("customers/x1.csv", frame)
    p2 = project.write_csv("customers/x2.csv", frame)
    s1 = register(instance, project.contracts["customers"], p1, project.warehouse)
    s2 = register(instance, project.contracts["customers"], p2, project.warehouse)
    assert s1.sha256 == s2.sha256
    assert s1.partition_key.split("@")[1] == s2.partition_key.split("@")[1]


def test_partition_reruns_from_archive_after_landing_file_is_gone(project, instance):
    path = project.write_csv("customers/g.csv", customer_frame(12))
    out = project.ingest(instance, "customers", path)
    path.unlink()
    # UI re-materialization: no source tag, the archive serves the bytes.
    job = project.defs.resolve_job_def("customers_pipeline")
    result = job.execute_in_process(instance=instance, partition_key=out.partition, raise_on_error=False)
    assert result.success
    assert project.wh().row_counts("masked_customers")[out.partition] == 12


def test_changed_content_under_a_registered_name_is_refused_not_mixed(project, instance):
    path = project.write_csv("customers/h.csv", customer_frame(5))
    source = register(instance, project.contracts["customers"], path, project.warehouse)
    project.write_csv("customers/h.csv", customer_frame(6))  # file replaced after registration
    out = project.run(instance, "customers", source)
    assert not out.success
    assert "content changed since it was registered" in out.error


def test_delta_commits_point_back_at_their_dagster_run(project, instance):
    out = project.ingest(instance, "customers", project.write_csv("customers/i.csv", customer_frame(8)))
    commit = project.wh().last_commit("masked_customers", out.partition)
    assert commit["dagster_run_id"] == out.run_id
    assert commit["dagster_partition"] == out.partition
    run = instance.get_run_by_id(out.run_id)
    assert run.tags["dq/checksum"].startswith(out.partition.split("@")[1])


def test_schema_gates_catch_a_defect_in_the_rule_engine(project, instance, monkeypatch):
    """Defence in depth: if row rules ever let bad rows through, pandera, GX and the
    reconciliation still stop publication (the defect is injected into our own rule engine)."""
    real = rules.split

    def defective(raw, judged, uniques):
        result = real(raw, judged, uniques)
        leaked = result.cleaned.iloc[[0]].copy()
        leaked["income"] = -5.0  # below min, and a duplicate customer_id
        result.cleaned = pd.concat([result.cleaned, leaked], ignore_index=True)
        return result

    monkeypatch.setattr(rules, "split", defective)
    out = project.ingest(instance, "customers", project.write_csv("customers/j.csv", customer_frame(10)))
    assert not out.success
    res = check_results(out)
    assert res["cleaned_customers.cleaned_matches_pandera_schema"] is False
    assert res["cleaned_customers.cleaned_passes_gx_suite"] is False
    assert res["cleaned_customers.raw_rows_reconcile_with_cleaned_and_quarantine"] is False
    assert res["cleaned_customers.failure_rate_within_threshold"] is True
    assert "masked" not in out.rows and project.wh().table("masked_customers") is None
    gates = "\n".join(out.failed_gates)
    assert "raw 10 = cleaned 11 + quarantine 0" in gates


def test_raw_schema_change_and_row_count_bounds_checks(project, instance):
    first = project.ingest(instance, "customers", project.write_csv("customers/k1.csv", customer_frame(5)))
    assert check_results(first)["raw_customers.column_schema_change"] is True
    wider = customer_frame(5, start=50).assign(loyalty_tier="gold")  # a column nobody declared
    second = project.ingest(instance, "customers", project.write_csv("customers/k2.csv", wider))
    assert second.success  # extra columns are kept in raw, dropped from cleaned
    assert check_results(second)["raw_customers.column_schema_change"] is False
    assert "loyalty_tier" in project.wh().read("raw_customers", partition=second.partition).columns
    assert "loyalty_tier" not in project.wh().read("cleaned_customers", partition=second.partition).columns

    empty = project.landing / "customers" / "k3.csv"
    empty.write_text(",".join(customer_frame(1).columns) + "\n")
    third = project.ingest(instance, "customers", empty)
    assert check_results(third)["raw_customers.dagster_row_count_bounds_check"] is False  # contract: min 1 row
    assert third.rows.get("in") == 0


def test_a_column_missing_from_a_later_file_is_reported_as_missing_from_the_file(project, instance):
    first = project.ingest(instance, "customers", project.write_csv("customers/m1.csv", customer_frame(5)))
    assert first.success
    later = project.ingest(
        instance,
        "customers",
        project.write_csv("customers/m2.csv", customer_frame(5, start=20).drop(columns=["email"])),
    )
    q = project.wh().read("quarantine_customers", partition=later.partition)
    assert set(q[rules.FAILED_RULES]) == {"email:present; email:required"}
    assert (q[rules.REASON].str.startswith("email: column is missing from the file")).all()


def test_one_process_and_a_process_per_step_store_the_same_tables(project, instance, tmp_path):
    """The executors differ only in where steps run: every step reads its input chunks from the
    staged Delta files, in one process or in a process per step alike."""
    from dq_platform.defs.file_runs import run_file
    from dq_platform.io.warehouse import Warehouse

    path = project.write_csv("customers/customers_a.csv", customer_frame(80, bad=4))
    contract = project.contracts["customers"]
    tables = {}
    for executor in ("in_process", "multiprocess"):
        root = str(tmp_path / f"warehouse_{executor}")
        source = register(instance, contract, path, root)
        out = run_file(
            instance, contract, source, contracts_dir=project.contracts_dir, warehouse_root=root, executor=executor
        )
        assert out.success and out.rows == {"in": 80, "cleaned": 76, "quarantined": 4, "masked": 76}, out.error
        wh = Warehouse(root=root)
        tables[executor] = {
            t: wh.read(t, partition=out.partition).drop(columns=[rules.RUN_ID], errors="ignore")
            for t in ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers")
        }
    for table, frame in tables["in_process"].items():
        pd.testing.assert_frame_equal(frame, tables["multiprocess"][table], obj=table)
