"""The landing sensor, evaluated the way the daemon does (build_sensor_context, cursor carried
from tick to tick), over a local folder and over a real S3 API server on loopback."""

from __future__ import annotations

import json
import os
import time

import boto3
import dagster as dg
import pytest

from dq_platform.contract import load_contracts, parse_contract
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.defs.sensors import build_file_sensor

CONTRACTS = {c.name: c for c in load_contracts()}
CSV = b"customer_id,first_name\n1,Ann\n2,Bob\n"


class Landing:
    """A landing zone the test can drop files into: a temp folder or an S3 bucket."""

    def __init__(self, kind, tmp_path, request):
        self.kind = kind
        if kind == "local":
            self.root = tmp_path / "landing"
            self.root.mkdir()
            self.uri = str(self.root)
        else:
            bucket = request.getfixturevalue("s3_bucket")
            self.s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
            self.bucket, self.uri = bucket, f"s3://{bucket}/incoming"

    def put(self, relpath: str, data: bytes) -> None:
        if self.kind == "local":
            path = self.root / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        else:
            self.s3.put_object(Bucket=self.bucket, Key=f"incoming/{relpath}", Body=data)


@pytest.fixture(params=["local", "s3"])
def zone(request, tmp_path):
    return Landing(request.param, tmp_path, request)


def reason(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


class Ticker:
    """Evaluates a sensor tick after tick, applying its partition requests as the daemon would."""

    def __init__(self, contract, instance, uri):
        self.sensor = build_file_sensor(contract)
        self.instance, self.uri, self.cursor = instance, uri, None

    def tick(self) -> dg.SensorResult:
        ctx = dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"landing": LandingZoneResource(uri=self.uri)}
        )
        result = self.sensor(ctx)
        for req in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        self.cursor = result.cursor
        return result


def test_new_file_waits_one_tick_then_registers_a_partition_and_a_run(zone, instance):
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/a.csv", CSV)
    first = ticker.tick()
    assert first.run_requests == [] and "waiting one tick" in reason(first)
    second = ticker.tick()
    (req,) = second.run_requests
    assert req.partition_key.startswith("a.csv@") and req.run_key == req.partition_key
    assert req.tags["dq/source_uri"].endswith("customers/a.csv")
    assert req.tags["dq/size"] == str(len(CSV)) and len(req.tags["dq/checksum"]) == 64
    assert instance.get_dynamic_partitions("customers_files") == [req.partition_key]
    assert ticker.tick().run_requests == []  # nothing new: no second run


def test_same_bytes_under_another_name_are_skipped_with_a_reason(zone, instance):
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/a.csv", CSV)
    ticker.tick(), ticker.tick()
    zone.put("customers/copy_of_a.csv", CSV)
    ticker.tick()
    result = ticker.tick()
    assert result.run_requests == []
    assert "copy_of_a.csv: same content" in reason(result) and "already registered" in reason(result)


def test_changed_bytes_under_the_same_name_get_their_own_run(zone, instance):
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/a.csv", CSV)
    ticker.tick()
    first = ticker.tick().run_requests[0].partition_key
    time.sleep(1.1)  # a new mtime on coarse clocks (S3 LastModified has second resolution)
    zone.put("customers/a.csv", CSV + b"3,Cy\n")
    ticker.tick()
    (req,) = ticker.tick().run_requests
    assert req.partition_key != first and req.partition_key.startswith("a.csv@")
    assert len(instance.get_dynamic_partitions("customers_files")) == 2


def test_a_file_still_being_written_is_not_picked_up(zone, instance):
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/big.csv.part", CSV)  # temporary suffix: never a candidate
    zone.put("customers/big.csv", CSV[:10])
    assert ticker.tick().run_requests == []
    time.sleep(1.1)
    zone.put("customers/big.csv", CSV)  # still growing at the next tick
    assert ticker.tick().run_requests == []
    (req,) = ticker.tick().run_requests  # stable across two ticks
    assert req.tags["dq/size"] == str(len(CSV))


def test_a_file_unchanged_for_a_whole_interval_is_not_made_to_wait_another_tick(tmp_path, instance, monkeypatch):
    """Already settled when first listed (its mtime older than the sensor interval): requested at once;
    a file written just now still waits a tick."""
    monkeypatch.setenv("DQ_SENSOR_INTERVAL_SECONDS", "30")
    zone = Landing("local", tmp_path, None)
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/old.csv", CSV)
    zone.put("customers/new.csv", CSV + b"3,Cy\n")
    old = time.time() - 31
    os.utime(zone.root / "customers" / "old.csv", (old, old))
    (req,) = ticker.tick().run_requests  # new.csv is not among them: it waits
    assert req.partition_key.startswith("old.csv@")
    (req,) = ticker.tick().run_requests
    assert req.partition_key.startswith("new.csv@")


def test_only_the_contracts_own_files(zone, instance):
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("sales/sales_1.csv", CSV)
    zone.put("customers/notes.txt", b"hello")
    ticker.tick()
    assert ticker.tick().run_requests == []


def test_ready_marker_is_honoured(tmp_path, instance):
    text = CONTRACTS["customers"].model_dump_json()
    contract = parse_contract(
        json.dumps({**json.loads(text), "source": {**json.loads(text)["source"], "ready_marker": ".done"}})
    )
    landing = tmp_path / "landing" / "customers"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_bytes(CSV)
    ticker = Ticker(contract, instance, str(tmp_path / "landing"))
    assert "waiting for its .done marker" in reason(ticker.tick())
    (landing / "a.csv.done").write_bytes(b"")
    assert len(ticker.tick().run_requests) == 1  # with a marker, no stability wait


def test_cursor_survives_a_restart(tmp_path, instance):
    landing = tmp_path / "landing" / "customers"
    landing.mkdir(parents=True)
    (landing / "a.csv").write_bytes(CSV)
    first = Ticker(CONTRACTS["customers"], instance, str(tmp_path / "landing"))
    first.tick()
    restarted = Ticker(CONTRACTS["customers"], instance, str(tmp_path / "landing"))  # new process
    restarted.cursor = first.cursor  # what the daemon stored
    assert len(restarted.tick().run_requests) == 1


def test_sensor_pages_through_more_than_1000_s3_objects(s3_bucket, instance):
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    for i in range(1050):  # listed under the dataset's prefix, none matching its *.csv glob
        s3.put_object(Bucket=s3_bucket, Key=f"incoming/customers/old_{i:04d}.txt", Body=b"x")
    s3.put_object(Bucket=s3_bucket, Key="incoming/customers/zzz_last.csv", Body=CSV)  # on the 2nd page
    ticker = Ticker(CONTRACTS["customers"], instance, f"s3://{s3_bucket}/incoming")
    ticker.tick()
    (req,) = ticker.tick().run_requests
    assert req.partition_key.startswith("zzz_last.csv@")
    assert req.tags["dq/source_uri"] == f"s3://{s3_bucket}/incoming/customers/zzz_last.csv"


def test_small_files_run_in_one_process_and_big_ones_a_process_per_step(tmp_path, instance, monkeypatch):
    """One process saves each step's interpreter start; above DQ_STEP_PROCESSES_ABOVE_MB each step
    gets its own process, so its memory is returned when it ends."""
    zone = Landing("local", tmp_path, None)
    monkeypatch.setenv("DQ_STEP_PROCESSES_ABOVE_MB", str(100 / 2**20))  # 100 bytes
    ticker = Ticker(CONTRACTS["customers"], instance, zone.uri)
    zone.put("customers/small.csv", CSV)
    zone.put("customers/big.csv", CSV + b"".join(b"%d,Name%d\n" % (i, i) for i in range(3, 30)))
    ticker.tick()
    requests = {r.partition_key.split("@")[0]: r for r in ticker.tick().run_requests}
    assert requests["small.csv"].run_config == {"execution": {"config": {"process_per_step": False}}}
    assert requests["big.csv"].run_config == {"execution": {"config": {"process_per_step": True}}}
