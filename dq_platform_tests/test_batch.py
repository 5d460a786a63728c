"""Many files, one run (defs/batch.py): the landing sensor hands several ready files to one batch run.

The same three files (two good, one over the failure-rate gate) go through two projects: one
launches what the sensor asks for with batching off (a run per file), the other with batching on
(one batch run). Each file must end the same either way — partition, every layer's rows, quarantine
rows and reasons, every check's outcome, its audit row and the alerts it raises — and the bad file
holds only itself. Runs are launched as the daemon launches them: the sensor's request, its tags.
"""

from __future__ import annotations

import re

import dagster as dg
import pytest

from dq_platform import names
from dq_platform.alerts.sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.batch import batch_files, build_batch_job, op_name
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.defs.sensors import build_file_sensor
from dq_platform.demo.sample_data import generate
from dq_platform.engine import rules
from dq_platform.ops.audit import list_runs
from dq_platform_tests.conftest import Project

pytestmark = pytest.mark.slow

SENSOR = names.landing_sensor("customers")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
FILES = {"good_a": (1, 0.04), "bad": (2, 0.6), "good_b": (3, 0.04)}  # name: seed, share of bad rows


def sensor_for(project: Project, batching: bool) -> dg.SensorDefinition:
    contract = project.contracts["customers"]
    if not batching:
        return build_file_sensor(contract)
    return build_file_sensor(
        contract, project.defs.resolve_job_def(names.pipeline_job("customers")), batch_job(project)
    )


def batch_job(project: Project) -> dg.JobDefinition:
    return build_batch_job(project.contracts["customers"])


def tick(sensor, project: Project, instance, cursor):
    """One evaluation as the daemon does it: partitions added, run requests returned with the cursor."""
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"landing": LandingZoneResource(uri=str(project.landing))}
    )
    result = sensor(ctx)
    if isinstance(result, dg.SkipReason):
        return [], ctx.cursor
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    return list(result.run_requests), result.cursor


def launch(project: Project, instance, request: dg.RunRequest):
    """What the daemon launches for a request: the job by name, its config and tags, the sensor's tag."""
    job = dg.build_reconstructable_job(
        "dq_platform.definitions",
        "pipeline_job",
        reconstructable_args=(
            request.job_name or names.pipeline_job("customers"),
            str(project.contracts_dir),
            project.warehouse,
        ),
    )
    tags = {**request.tags, names.SENSOR_TAG: SENSOR}
    if request.partition_key:
        tags[names.PARTITION_TAG] = request.partition_key
    config = dict(request.run_config)
    if request.job_name == names.batch_job("customers"):  # the test's contracts folder and warehouse
        config = batch_files(
            "customers", config["ops"][op_name("customers")]["config"]["files"], str(project.contracts_dir)
        )
    return dg.execute_job(job, instance, run_config=config, tags=tags, raise_on_error=False)


def land(project: Project) -> None:
    contract = project.contracts["customers"]
    for name, (seed, bad) in FILES.items():
        frame = generate(contract, rows=120, seed=seed, bad_fraction=bad, id_offset=seed * 1000).frame
        project.write_csv(f"customers/{name}.csv", frame)


def process(project: Project, instance, batching: bool) -> list[dg.RunRequest]:
    sensor = sensor_for(project, batching)
    land(project)
    requests, cursor = tick(sensor, project, instance, None)  # first sight: waits for size/mtime to settle
    assert requests == []
    requests, cursor = tick(sensor, project, instance, cursor)
    for request in requests:
        assert launch(project, instance, request).success or not batching
    later, _ = tick(sensor, project, instance, cursor)
    assert later == []  # every file has a verdict: nothing more to run
    return requests


def file_runs(instance) -> dict[str, dg.DagsterRun]:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=names.pipeline_job("customers")))
    return {run.tags[names.SOURCE_URI_TAG].rsplit("/", 1)[1]: run for run in runs}


def tables(project: Project, partition: str) -> dict[str, list]:
    """Every layer's rows of the partition (raw, cleaned, quarantine with its reasons, masked), sorted."""
    wh = project.wh()
    out = {}
    for table in (names.raw, names.cleaned, names.quarantine, names.masked):
        name = table("customers")
        if wh.table(name) is None:
            continue
        frame = wh.read(name, filters=[(rules.PARTITION, "=", partition)])
        frame = frame.drop(columns=[c for c in frame.columns if "run" in c or "loaded" in c or "ingested" in c])
        out[name] = sorted(frame.astype(str).values.tolist())
    return out


def checks(instance, run_id: str) -> list[tuple]:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    evals = [r.event_log_entry.dagster_event.event_specific_data for r in records]

    def said(e) -> str:  # a freshness check says how long ago the update was: only its verdict is compared
        text = e.description or ""
        text = text.split(".")[0] if e.check_name == "freshness_check" else text
        return UUID.sub("<run>", text)  # the run that published what a check read: this file's own

    return sorted((e.asset_key.to_user_string(), e.check_name, e.passed, e.severity.value, said(e)) for e in evals)


def alerts(project: Project, instance, tmp_path, monkeypatch, label: str) -> list[str]:
    path = tmp_path / f"alerts_{label}.log"
    monkeypatch.setenv("DQ_ALERT_FILE", str(path))
    contracts = list(project.contracts.values())
    for sensor in (
        build_check_alert_sensor(contracts, project.defs.resolve_asset_graph().asset_check_keys),
        build_run_failure_alert_sensor(contracts),
    ):
        with dg.build_sensor_context(instance=instance) as ctx:
            sensor.evaluate_tick(ctx)
    runs = {run.run_id: name for name, run in file_runs(instance).items()}
    text = path.read_text() if path.exists() else ""
    for run_id, name in runs.items():  # a run's id differs between the two projects, its file does not
        text = text.replace(run_id, f"<run of {name}>")
    return sorted(re.sub(r"\d{4}-\d\d-\d\dT[\d:.]+(\+00:00|Z)?", "<time>", line) for line in text.splitlines())


@pytest.fixture
def pair(tmp_path, monkeypatch):
    """The same files through a run per file (`single`) and through one batch run (`batch`)."""
    monkeypatch.setattr("os.cpu_count", lambda: 1)  # one run at a time: the three files share one batch
    out = {}
    for label, batching in (("single", False), ("batch", True)):
        with dg.instance_for_test() as instance:
            project = Project(tmp_path / label, CONTRACTS_DIR)
            requests = process(project, instance, batching)
            out[label] = (project, instance, requests, alerts(project, instance, tmp_path, monkeypatch, label))
            out[label] += (list_runs(instance, limit=100),)
            out[label] += ({name: (run, checks(instance, run.run_id)) for name, run in file_runs(instance).items()},)
    return out


def test_a_batch_run_gives_each_file_what_a_run_of_its_own_gives(pair):
    single_project, _, single_requests, single_alerts, single_audit, single_runs = pair["single"]
    batch_project, _, batch_requests, batch_alerts, batch_audit, batch_runs = pair["batch"]
    assert [r.job_name for r in batch_requests] == [names.batch_job("customers")]  # three files, one run
    assert len(single_requests) == 3

    assert set(single_runs) == set(batch_runs) == {f"{name}.csv" for name in FILES}
    for name in single_runs:
        one, batched = single_runs[name][0], batch_runs[name][0]
        assert one.tags[names.PARTITION_TAG] == batched.tags[names.PARTITION_TAG]  # the same partition
        assert one.status == batched.status, name
        assert single_runs[name][1] == batch_runs[name][1], name  # every check: outcome, severity, description
        partition = one.tags[names.PARTITION_TAG]
        assert tables(single_project, partition) == tables(batch_project, partition), name
        assert batched.tags[names.BATCH_TAG] == batch_requests[0].tags[names.BATCH_TAG]

    # the bad file holds only itself: the two good ones are published, the batch run succeeded
    assert batch_runs["bad.csv"][0].status == dg.DagsterRunStatus.FAILURE
    assert {batch_runs[f"{n}.csv"][0].status for n in ("good_a", "good_b")} == {dg.DagsterRunStatus.SUCCESS}
    masked = batch_project.wh().read(names.masked("customers"))
    assert set(masked[rules.PARTITION]) == {
        batch_runs[f"{n}.csv"][0].tags[names.PARTITION_TAG] for n in ("good_a", "good_b")
    }

    # the audit: each file's row is the same (its run's id, start and duration aside); the batch run is one more row
    def audit_rows(rows, runs):
        by_id = {run.run_id: name for name, (run, _) in runs.items()}
        return sorted(
            (
                by_id[r.run_id],
                r.dataset,
                r.partition,
                r.source.split("/landing/")[1],  # the two projects live in two folders
                r.trigger,
                r.status,
                r.rows_in,
                r.rows_cleaned,
                r.rows_quarantined,
                r.rows_published,
                r.checks_passed,
                r.checks_failed,
                r.error,
            )
            for r in rows
            if r.run_id in by_id
        )

    assert audit_rows(single_audit, single_runs) == audit_rows(batch_audit, batch_runs)
    assert {r.trigger for r in batch_audit} == {f"sensor:{SENSOR}"}
    assert len(batch_audit) == len(single_audit) + 1

    # the alerts: the same lines for the same files; the bad file's gate alerts, nothing for the batch run
    assert batch_alerts == single_alerts
    assert any("failure_rate_within_threshold" in line for line in batch_alerts)
    assert not any(names.batch_job("customers") in line for line in batch_alerts)


def test_a_file_the_batch_did_not_reach_is_requested_alone(project, instance, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)  # one batch for the three files
    sensor = sensor_for(project, True)
    land(project)
    _, cursor = tick(sensor, project, instance, None)
    (request,), cursor = tick(sensor, project, instance, cursor)
    assert request.job_name == names.batch_job("customers")
    # the batch run ends without reaching its files (as if its process had died before them)
    empty = dg.RunRequest(
        run_key=request.run_key, job_name=request.job_name, run_config=batch_files("customers", []), tags=request.tags
    )
    assert launch(project, instance, empty).success
    again, _ = tick(sensor, project, instance, cursor)
    assert sorted(r.job_name for r in again) == [names.pipeline_job("customers")] * 3  # each alone, no new batch
    assert {r.partition_key for r in again} == set(
        request.run_config["ops"][op_name("customers")]["config"]["files"][i]["partition"] for i in range(3)
    )


def test_one_ready_file_gets_a_run_of_its_own_and_batching_can_be_turned_off(project, instance, monkeypatch):
    sensor = sensor_for(project, True)
    contract = project.contracts["customers"]
    project.write_csv("customers/only.csv", generate(contract, rows=50, seed=9, bad_fraction=0.0).frame)
    _, cursor = tick(sensor, project, instance, None)
    (request,), cursor = tick(sensor, project, instance, cursor)
    assert request.job_name == names.pipeline_job("customers") and request.partition_key

    monkeypatch.setenv("DQ_BATCH_FILES", "1")
    land(project)
    _, cursor = tick(sensor, project, instance, cursor)
    requests, _ = tick(sensor, project, instance, cursor)
    assert [r.job_name for r in requests] == [names.pipeline_job("customers")] * 3


@pytest.mark.parametrize(
    ("limit", "cores", "files", "sizes"), [(2, 2, 6, [3, 3]), (2, 2, 3, [2, 1]), (8, 2, 6, [3, 3]), (2, 1, 6, [6])]
)
def test_a_burst_of_files_is_spread_over_as_many_batch_runs_as_run_at_once(
    project, monkeypatch, limit, cores, files, sizes
):
    """Files ready together go to one batch per run the instance starts at once (at most the cores),
    so a burst of small files keeps every core busy; a batch of one is a plain run."""
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    contract = project.contracts["customers"]
    for i in range(files):
        frame = generate(contract, rows=20, seed=50 + i, bad_fraction=0.0, id_offset=i * 100).frame
        project.write_csv(f"customers/burst_{i}.csv", frame)
    sensor = sensor_for(project, True)
    with dg.instance_for_test(overrides={"concurrency": {"runs": {"max_concurrent_runs": limit}}}) as instance:
        _, cursor = tick(sensor, project, instance, None)
        requests, _ = tick(sensor, project, instance, cursor)
    got = [
        len(r.run_config["ops"][op_name("customers")]["config"]["files"])
        if r.job_name == names.batch_job("customers")
        else 1
        for r in requests
    ]
    assert got == sizes
    assert sum(got) == files and len({r.partition_key for r in requests if r.partition_key}) == got.count(1)
