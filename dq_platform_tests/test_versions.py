"""Versions, time travel and rollback (local Delta tables); S3 with SSE-KMS on a loopback server."""

import threading

import dagster as dg
import pandas as pd
import pytest

from dq_platform.cli import main
from dq_platform.defs.versions import RollbackRefused, list_versions, read_as_of, rollback
from dq_platform.io.warehouse import Warehouse


def frame(values) -> pd.DataFrame:
    return pd.DataFrame({"x": pd.Series(values, dtype="Int64")})


def three_versions(w: Warehouse, table: str) -> None:
    w.write(table, frame([1]), partition=None, run_id="run-0", extra_metadata={"dq_gates": "passed"})
    w.write(table, frame([1, 2]), partition=None, run_id="run-1", extra_metadata={"dq_gates": "failed"})
    w.write(table, frame([1, 2, 3]), partition=None, run_id="run-2", extra_metadata={"dq_gates": "passed"})


def test_versions_list_run_ids_rows_and_gates(tmp_path):
    w = Warehouse(root=str(tmp_path))
    three_versions(w, "masked_t")
    vs = list_versions(w, "masked_t")
    assert [(v.version, v.run_id, v.gates, v.rows) for v in vs] == [
        (2, "run-2", "passed", 3),
        (1, "run-1", "failed", 2),
        (0, "run-0", "passed", 1),
    ]
    assert all(v.timestamp.tzinfo is not None for v in vs)


def test_time_travel_by_version_and_timestamp(tmp_path):
    w = Warehouse(root=str(tmp_path))
    three_versions(w, "masked_t")
    assert read_as_of(w, "masked_t", 1)["x"].tolist() == [1, 2]
    assert read_as_of(w, "masked_t", "0")["x"].tolist() == [1]
    v1_time = next(v.timestamp for v in list_versions(w, "masked_t") if v.version == 1)
    assert sorted(read_as_of(w, "masked_t", v1_time.isoformat())["x"].tolist()) == [1, 2]


def test_rollback_refuses_failed_version_unless_forced(tmp_path):
    w = Warehouse(root=str(tmp_path))
    three_versions(w, "masked_t")
    with pytest.raises(RollbackRefused, match="version 1 did not pass its gates"):
        rollback(w, "masked_t", 1, reason="bad load", who="alice")
    assert w.table("masked_t").version() == 2  # nothing changed
    new = rollback(w, "masked_t", 0, reason="bad load", who="alice", run_id="rb-run")
    assert new == 3 and w.read("masked_t")["x"].tolist() == [1]
    head = w.table("masked_t").history(1)[0]
    assert (
        head["operation"],
        head["dq_rollback_to"],
        head["dq_rollback_by"],
        head["dq_rollback_reason"],
        head["dagster_run_id"],
    ) == ("RESTORE", "0", "alice", "bad load", "rb-run")
    assert rollback(w, "masked_t", 1, reason="on purpose", who="bob", force=True) == 4
    assert w.read("masked_t")["x"].tolist() == [1, 2]
    with pytest.raises(RollbackRefused, match="has no version 9"):
        rollback(w, "masked_t", 9, reason="x", who="bob")


def test_cli_versions_read_and_rollback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "wh"))
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    w = Warehouse(root=str(tmp_path / "wh"))
    three_versions(w, "masked_t")
    assert main(["versions", "masked_t"]) == 0
    out = capsys.readouterr().out
    assert "run-1" in out and "failed" in out and "WRITE" in out
    assert main(["rollback", "masked_t", "--to", "1", "--reason", "test"]) == 1
    assert "rollback refused: masked_t version 1 did not pass its gates" in capsys.readouterr().err
    assert main(["rollback", "masked_t", "--to", "0", "--reason", "test", "--who", "carol"]) == 0
    assert "restored version 0 as version 3" in capsys.readouterr().out
    # both CLI rollbacks are runs in the persistent instance, found by their tags
    with dg.DagsterInstance.from_config(str(tmp_path / "home")) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"dq/rollback/table": "masked_t"}))
        assert sorted((r.status.value, r.tags["dq/rollback/to_version"]) for r in runs) == [
            ("FAILURE", "1"),
            ("SUCCESS", "0"),
        ]
        ok = next(r for r in runs if r.status.value == "SUCCESS")
        assert ok.tags["dq/rollback/who"] == "carol" and ok.tags["dq/rollback/reason"] == "test"
        assert {r.tags["dq/trigger"] for r in runs} == {"cli"}  # the audit log names the CLI as trigger
    assert w.last_commit("masked_t")["dagster_run_id"] == ok.run_id
    assert main(["versions", "masked_t", "--as-of", "1"]) == 0
    assert capsys.readouterr().out.count("\n") == 3  # header + 2 rows


def test_rollback_job_from_the_ui_records_tags_and_run_id(tmp_path, instance):
    """The job as the UI launches it: config only, no tags given; the op tags the run itself."""
    from dq_platform.definitions import build_definitions
    from dq_platform.defs.versions import ROLLBACK_OP
    from dq_platform.names import ROLLBACK_JOB

    root = str(tmp_path / "wh")
    three_versions(Warehouse(root=root), "gold_t")
    job = build_definitions(warehouse_root=root).resolve_job_def(ROLLBACK_JOB)

    def launch(**config):
        return job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "ops": {ROLLBACK_OP: {"config": {"table": "gold_t", "reason": "bad upstream", "who": "dana", **config}}}
            },
        )

    refused = launch(to_version=1)
    assert not refused.success
    failure = next(ev for ev in refused.all_events if ev.is_step_failure)
    assert "rollback refused: gold_t version 1 did not pass its gates" in failure.event_specific_data.error.message
    assert Warehouse(root=root).table("gold_t").version() == 2  # untouched
    # a refused rollback is the platform declining an unsafe request: no CRITICAL run-failure page
    from dq_platform.alerts.sensors import build_run_failure_alert_sensor, list_deliveries

    with dg.build_sensor_context(instance=instance) as ctx:
        build_run_failure_alert_sensor([]).evaluate_tick(ctx)
    assert list_deliveries(instance) == []

    forced = launch(to_version=1, force=True)
    assert forced.success
    run = instance.get_run_by_id(forced.run_id)
    assert {k: v for k, v in run.tags.items() if k.startswith("dq/rollback/")} == {
        "dq/rollback/table": "gold_t",
        "dq/rollback/to_version": "1",
        "dq/rollback/who": "dana",
        "dq/rollback/reason": "bad upstream",
        "dq/rollback/force": "true",
    }
    head = Warehouse(root=root).table("gold_t").history(1)[0]
    assert (head["version"], head["operation"], head["dagster_run_id"], head["dq_rollback_by"]) == (
        3,
        "RESTORE",
        forced.run_id,
        "dana",
    )
    obs = instance.fetch_observations(dg.AssetKey("gold_t"), limit=1).records[0].asset_observation
    assert obs.metadata["dq/rollback/new_version"].value == 3


# -- S3 with SSE-KMS on the loopback moto server ----------------------------------------------


@pytest.fixture
def kms_key(s3_server, monkeypatch):
    import boto3

    key = boto3.client("kms", endpoint_url=s3_server, region_name="us-east-1").create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("DQ_S3_SSE", "aws:kms")
    monkeypatch.setenv("DQ_S3_KMS_KEY_ID", key)
    return key


def every_object(endpoint: str, bucket: str) -> list[dict]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return [{"key": k, **s3.head_object(Bucket=bucket, Key=k)} for k in keys]


def test_s3_writes_reads_and_every_object_carries_sse_kms(s3_server, s3_bucket, kms_key):
    w = Warehouse(root=f"s3://{s3_bucket}/wh")
    w.write("cleaned_t", frame([1, 2]), partition="a", run_id="r1", extra_metadata={"dq_gates": "passed"})
    w.write("cleaned_t", frame([3]), partition="b", run_id="r2", extra_metadata={"dq_gates": "passed"})
    assert w.row_counts("cleaned_t") == {"a": 2, "b": 1}
    assert sorted(w.read("cleaned_t")["x"].tolist()) == [1, 2, 3]
    objects = every_object(s3_server, s3_bucket)
    assert any("_delta_log/" in o["key"] for o in objects) and any(o["key"].endswith(".parquet") for o in objects)
    for o in objects:
        assert (o["key"], o.get("ServerSideEncryption"), o.get("SSEKMSKeyId")) == (o["key"], "aws:kms", kms_key)


def test_s3_versions_time_travel_and_rollback(s3_server, s3_bucket, kms_key):
    w = Warehouse(root=f"s3://{s3_bucket}/wh")
    three_versions(w, "masked_t")
    assert [(v.version, v.run_id, v.gates) for v in list_versions(w, "masked_t")] == [
        (2, "run-2", "passed"),
        (1, "run-1", "failed"),
        (0, "run-0", "passed"),
    ]
    assert w.last_commit("masked_t")["dagster_run_id"] == "run-2"
    assert read_as_of(w, "masked_t", 1)["x"].tolist() == [1, 2]
    with pytest.raises(RollbackRefused, match="did not pass its gates"):
        rollback(w, "masked_t", 1, reason="bad load", who="alice")
    assert rollback(w, "masked_t", 0, reason="bad load", who="alice", run_id="rb") == 3
    assert w.read("masked_t")["x"].tolist() == [1]
    assert w.last_commit("masked_t")["dq_rollback_by"] == "alice"
    for o in every_object(s3_server, s3_bucket):  # the RESTORE commit is encrypted too
        assert (o["key"], o.get("ServerSideEncryption"), o.get("SSEKMSKeyId")) == (o["key"], "aws:kms", kms_key)


def test_s3_concurrent_writers_lose_no_commit(s3_server, s3_bucket):
    w = Warehouse(root=f"s3://{s3_bucket}/wh")
    w.write("t", frame([0]), partition="p0", run_id="init")
    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(4):
                Warehouse(root=w.root).write("t", frame([n * 10 + i]), partition=f"w{n}-{i}", run_id=f"w{n}")
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    table = w.table("t")
    assert table.version() == 12  # 1 + 3 writers x 4 commits, none lost or overwritten
    assert w.row_counts("t") == {"p0": 1, **{f"w{n}-{i}": 1 for n in range(3) for i in range(4)}}
    assert sorted(w.read("t")["x"].tolist()) == [0, *sorted(n * 10 + i for n in range(3) for i in range(4))]


def test_sse_settings_are_checked(monkeypatch):
    from dq_platform.io.s3 import sse_options

    monkeypatch.setenv("DQ_S3_SSE", "aws:kms")
    monkeypatch.delenv("DQ_S3_KMS_KEY_ID", raising=False)
    with pytest.raises(ValueError, match="needs DQ_S3_KMS_KEY_ID"):
        sse_options()
    monkeypatch.setenv("DQ_S3_SSE", "rot13")
    with pytest.raises(ValueError, match="must be 'aws:kms' or 'AES256'"):
        sse_options()


@pytest.mark.slow
def test_pipeline_on_s3_warehouse_encrypts_every_object(project, instance, s3_server, s3_bucket, kms_key):
    """A real file through raw -> gold on an s3:// warehouse: tables, logs and the archived original."""
    from dq_platform.definitions import build_definitions

    from .test_pipeline import customer_frame

    project.warehouse = f"s3://{s3_bucket}/wh"
    project.defs = build_definitions(list(project.contracts.values()), project.warehouse)
    out = project.ingest(instance, "customers", project.write_csv("customers/s3.csv", customer_frame(30, bad=2)))
    assert out.success, out.error
    assert out.rows["cleaned"] + out.rows["quarantined"] == 30
    assert [v.run_id for v in list_versions(project.wh(), "masked_customers")] == [out.run_id]
    assert list_versions(project.wh(), "masked_customers")[0].gates == "passed"
    objects = every_object(s3_server, s3_bucket)
    keys = [o["key"] for o in objects]
    assert any(k.startswith("wh/_sources/customers/") and k.endswith("/s3.csv") for k in keys)
    for table in (
        "raw_customers",
        "cleaned_customers",
        "quarantine_customers",
        "masked_customers",
        "customers_by_status",
    ):  # the last one is gold
        assert any(k.startswith(f"wh/{table}/_delta_log/") for k in keys), table
    assert list_versions(project.wh(), "customers_by_status")[0].gates == "passed"
    for o in objects:
        assert (o["key"], o.get("ServerSideEncryption"), o.get("SSEKMSKeyId")) == (o["key"], "aws:kms", kms_key)


@pytest.mark.slow
def test_demo_shows_versions_growing_and_one_audited_rollback(project, instance):
    import io

    from dq_platform.demo.run import show_versions_and_rollback

    from .test_pipeline import customer_frame

    runs = [
        project.ingest(
            instance, "customers", project.write_csv(f"customers/d{i}.csv", customer_frame(10, start=1 + 10 * i))
        )
        for i in range(2)
    ]
    assert all(r.success for r in runs)
    out = io.StringIO()
    outcome = show_versions_and_rollback(
        instance, project.contracts["customers"], project.warehouse, project.contracts_dir, out
    )
    text = out.getvalue()
    assert outcome.success and "restored version 0 as version 2" in text
    assert runs[0].run_id[:8] in text and runs[1].run_id[:8] in text
    assert instance.get_run_by_id(outcome.run_id).tags["dq/rollback/who"] == "demo"
    assert project.wh().read("masked_customers").shape[0] == runs[0].rows["masked"]
