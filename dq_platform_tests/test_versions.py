"""Versions, time travel and rollback (local Delta tables); S3 with SSE-KMS on a loopback server."""

import datetime as dt
import threading

import pandas as pd
import pytest

from dq_platform.cli import main
from dq_platform.storage import Warehouse
from dq_platform.versions import RollbackRefused, list_versions, read_as_of, rollback


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
        (2, "run-2", "passed", 3), (1, "run-1", "failed", 2), (0, "run-0", "passed", 1)]
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
    assert (head["operation"], head["dq_rollback_to"], head["dq_rollback_by"], head["dq_rollback_reason"],
            head["dagster_run_id"]) == ("RESTORE", "0", "alice", "bad load", "rb-run")
    assert rollback(w, "masked_t", 1, reason="on purpose", who="bob", force=True) == 4
    assert w.read("masked_t")["x"].tolist() == [1, 2]
    with pytest.raises(RollbackRefused, match="has no version 9"):
        rollback(w, "masked_t", 9, reason="x", who="bob")


def test_cli_versions_read_and_rollback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path))
    w = Warehouse(root=str(tmp_path))
    three_versions(w, "masked_t")
    assert main(["versions", "masked_t"]) == 0
    out = capsys.readouterr().out
    assert "run-1" in out and "failed" in out and "WRITE" in out
    assert main(["rollback", "masked_t", "--to", "1", "--reason", "test"]) == 1
    assert "did not pass its gates" in capsys.readouterr().err
    assert main(["rollback", "masked_t", "--to", "0", "--reason", "test", "--who", "carol"]) == 0
    assert "restored version 0 as version 3" in capsys.readouterr().out
    assert main(["versions", "masked_t", "--as-of", "1"]) == 0
    assert capsys.readouterr().out.count("\n") == 3  # header + 2 rows


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
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for o in page.get("Contents", [])]
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
        (2, "run-2", "passed"), (1, "run-1", "failed"), (0, "run-0", "passed")]
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
    from dq_platform.storage import sse_options

    monkeypatch.setenv("DQ_S3_SSE", "aws:kms")
    monkeypatch.delenv("DQ_S3_KMS_KEY_ID", raising=False)
    with pytest.raises(ValueError, match="needs DQ_S3_KMS_KEY_ID"):
        sse_options()
    monkeypatch.setenv("DQ_S3_SSE", "rot13")
    with pytest.raises(ValueError, match="must be 'aws:kms' or 'AES256'"):
        sse_options()
