"""History checks through Dagster: stored history, real pipeline runs, the hourly overdue watch, alerts.

History is seeded through the instance's event storage (`report_dagster_event` with a chosen
timestamp, as bench/benchmark.py seeds its audit runs): raw/cleaned materializations carrying the
metadata the pipeline writes (`rows_in`, `failure_rate`, `profile/<column>/...`). Then a real file
runs through the real job (`project.ingest`), or the checks are executed outside a file's run, and
the stored evaluations are compared with answers worked out by hand (scale = 1.4826 * MAD, range =
median +- 3.5 * scale).
"""

from __future__ import annotations

import datetime as dt
import io
import time
import uuid

import dagster as dg
import pytest
from dagster import DagsterEvent, DagsterEventType
from dagster._core.events import StepMaterializationData
from dagster._core.storage.dagster_run import DagsterRun

from dq_platform.alerts.sensors import build_check_alert_sensor
from dq_platform.contract import CONTRACTS_DIR, parse_contract
from dq_platform.defs.history_checks import build_history_checks
from dq_platform.defs.history_read import horizon_for, judge_arrival, judge_value, read_history
from dq_platform.engine.history import COUNT, Settings
from dq_platform.names import ARRIVAL_HISTORY_CHECK as ARRIVAL
from dq_platform.names import COLUMN_METRICS_HISTORY_CHECK as COLUMN_METRICS
from dq_platform.names import FAILURE_RATE_HISTORY_CHECK as FAILURE_RATE
from dq_platform.names import ROW_COUNT_HISTORY_CHECK as ROW_COUNT
from dq_platform_tests.test_history import K14
from dq_platform_tests.test_pipeline import customer_frame

DAY, HOUR = 86400.0, 3600.0
RAW, CLEANED = dg.AssetKey("raw_customers"), dg.AssetKey("cleaned_customers")


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


class History:
    """Writes past materializations into the instance's event storage at chosen times, oldest first."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance = instance
        self.run_id = str(uuid.uuid4())
        instance.add_run(
            DagsterRun(
                job_name="customers_pipeline",
                run_id=self.run_id,
                status=dg.DagsterRunStatus.SUCCESS,
                tags={"dq/trigger": "test-seed"},
            )
        )

    def materialize(self, key: dg.AssetKey, partition: str, ts: float, **metadata) -> None:
        self.instance.report_dagster_event(
            DagsterEvent(
                event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                job_name="customers_pipeline",
                step_key=key.path[-1],
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)
                ),
            ),
            self.run_id,
            timestamp=ts,
        )

    def daily_files(self, n: int, last: float, rows=None, failure_rate=None, profile=None) -> list[str]:
        """n files one day apart, the last at `last`: raw (rows_in) and cleaned (failure_rate, profile)."""
        names = []
        for i in range(n):
            ts = last - (n - 1 - i) * DAY
            partition = f"hist_{i:02d}.csv@{i:016x}"
            names.append(partition)
            if rows is not None:
                self.materialize(RAW, partition, ts, rows_in=rows[i])
            if failure_rate is not None or profile is not None:
                meta = {"failure_rate": failure_rate[i]} if failure_rate is not None else {}
                meta.update({k: v[i] for k, v in (profile or {}).items()})
                self.materialize(CLEANED, partition, ts + 1, **meta)
        return names


def evaluations(instance, run_id: str) -> dict[str, dg.AssetCheckEvaluation]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return {
        r.event_log_entry.dagster_event.event_specific_data.check_name: r.event_log_entry.dagster_event.event_specific_data
        for r in records
    }


def meta(evaluation) -> dict:
    return {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}


def run_checks(project, instance, keys: list[dg.AssetCheckKey], as_of: str | None = None):
    """Execute checks alone, outside any file's run (as from the UI's "Execute" button)."""
    job = dg.define_asset_job("judge_checks_now", selection=dg.AssetSelection.checks(*keys))
    defs = dg.Definitions.merge(project.defs, dg.Definitions(jobs=[job]))
    config = (
        {"ops": {f"{k.asset_key.path[-1]}_history_checks": {"config": {"as_of": as_of}} for k in keys}}
        if as_of
        else None
    )
    result = defs.resolve_job_def("judge_checks_now").execute_in_process(instance=instance, run_config=config)
    assert result.success
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def console_alerts(project, instance) -> str:
    """One tick of the real check alert sensor, delivered to the console channel."""
    stream = io.StringIO()
    sensor = build_check_alert_sensor(
        list(project.contracts.values()), project.defs.resolve_asset_graph().asset_check_keys, console_stream=stream
    )
    with dg.build_sensor_context(instance=instance) as ctx:
        sensor.evaluate_tick(ctx)
    return stream.getvalue()


@pytest.fixture(autouse=True)
def _console_only(monkeypatch):
    for name in (
        "DQ_SLACK_WEBHOOK_URL",
        "DQ_ALERT_WEBHOOK_URL",
        "DQ_PAGERDUTY_ROUTING_KEY",
        "DQ_SMTP_HOST",
        "DQ_ALERT_FILE",
        "DQ_ALERT_CONSOLE",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=["sqlite", "postgres"])
def any_instance(request):
    yield request.getfixturevalue("instance" if request.param == "sqlite" else "pg_instance")


# 14 past files: rows alternate 38/42 -> median 40, MAD 2, scale 2.9652, range 29.6218..50.3782;
# failure rates alternate 0.04/0.06 -> median 0.05, MAD 0.01, scale 0.014826, range 0..0.101891
ROWS = [38, 42] * 7
RATES = [0.04, 0.06] * 7


@pytest.mark.slow
def test_an_injected_10x_volume_spike_is_flagged_with_its_expected_range_and_alerts(project, any_instance):
    instance = any_instance
    History(instance).daily_files(14, last=time.time() - DAY, rows=ROWS, failure_rate=RATES)
    out = project.ingest(instance, "customers", project.write_csv("customers/spike.csv", customer_frame(400)))
    assert out.success, out.error  # an anomaly never holds a file back
    assert out.rows["masked"] == 400
    ev = evaluations(instance, out.run_id)

    spike = ev[ROW_COUNT]
    assert not spike.passed and spike.severity == dg.AssetCheckSeverity.WARN
    m = meta(spike)
    assert (m["judged"], m["value"], m["median"], m["mad"], m["history_points"], m["window_days"]) == (
        True,
        400,
        40,
        2,
        14,
        28,
    )
    # scale 1.4826 * 2 * K14 (14 points: the small-sample factor 2.1986) = 6.5193; 40 +- 3.5 * 6.5193
    assert m["small_sample_factor"] == pytest.approx(K14, rel=1e-4)
    assert m["expected_low"] == pytest.approx(17.1824, rel=1e-4) and m["expected_high"] == pytest.approx(
        62.8176, rel=1e-4
    )
    assert m["robust_z"] == pytest.approx(360 / 6.5193, rel=1e-4)
    assert m["seasonality"] == "none" and m["partition"] == out.partition
    assert spike.description == "400 rows; history predicts 17–63 (median 40 over 14 files in the last 28 days)"

    # the other checks of the same run: a file a day as usual, and no failed rows (inside 0..16.41%)
    assert ev[ARRIVAL].passed and meta(ev[ARRIVAL])["judged"] and meta(ev[ARRIVAL])["history_points"] == 13
    rate = meta(ev[FAILURE_RATE])
    assert ev[FAILURE_RATE].passed and rate["value"] == 0 and rate["median"] == pytest.approx(0.05)
    assert rate["expected_low"] == 0 and rate["expected_high"] == pytest.approx(0.05 + 3.5 * 0.014826 * K14, rel=1e-4)
    assert ev[COLUMN_METRICS].passed and not meta(ev[COLUMN_METRICS])["judged"]  # no profile metadata yet

    # the anomaly reaches people once, MEDIUM, in plain words with its numbers
    # (seeded history has no column schema, so Dagster's schema-change check warns as well)
    text = console_alerts(project, instance)
    assert text.count("anomaly against history") == 1 and "[HIGH]" not in text, text
    assert "[MEDIUM] customers: anomaly against history: raw_customers.row_count_matches_history" in text
    assert f"partition: {out.partition}" in text
    assert "400 rows; history predicts 17–63 (median 40 over 14 files in the last 28 days)" in text
    assert "expected_high=62.81" in text and "expected_low=17.18" in text and "history_points=14" in text
    assert "small_sample_factor=2.1986" in text


@pytest.mark.slow
def test_a_late_file_is_flagged_and_its_rerun_is_judged_the_same_without_adding_a_point(project, instance):
    history = History(instance)
    last = time.time() - 3 * DAY  # the previous file came three days ago; files used to come daily
    history.daily_files(14, last=last, rows=ROWS)
    path = project.write_csv("customers/late.csv", customer_frame(40))
    out = project.ingest(instance, "customers", path)
    assert out.success
    ev = evaluations(instance, out.run_id)
    assert ev[ROW_COUNT].passed and meta(ev[ROW_COUNT])["robust_z"] == 0  # 40 rows, median 40

    late = ev[ARRIVAL]
    m = meta(late)
    assert not late.passed and m["judged"] and m["mode"] == "file"
    assert m["value"] == pytest.approx(72.0, abs=0.05)
    # 13 gaps of exactly 24 h: MAD 0, the 15-minute floor -> at most 24 + 3.5 * 0.25 = 24.875 h
    assert (m["median"], m["mad"], m["history_points"], m["scale_basis"]) == (24, 0, 13, "absolute floor")
    assert m["expected_high"] == 24.875 and m["expected_low"] == 23.125
    assert m["previous_arrival"] == iso(last) and m["window_end"] == iso(last)
    assert late.description.startswith(
        "arrived 72.0 h after the previous file; history predicts at most 24.9 h "
        "(median 24.0 h over 13 gaps between files in the last 28 days)"
    )

    again = project.ingest(instance, "customers", path)  # same bytes: same partition, run again
    assert again.partition == out.partition and again.run_id != out.run_id
    b = evaluations(instance, again.run_id)
    # judged as the file was when it came: same history, same arrival (its first materialization)
    assert meta(b[ROW_COUNT])["history_points"] == 14
    assert meta(b[ARRIVAL])["arrival"] == m["arrival"] and meta(b[ARRIVAL])["value"] == m["value"]

    # the next file sees 15 past files: the 14 seeded and late.csv once, though it was materialized twice
    history.materialize(RAW, "next.csv@00000000000000bb", time.time(), rows_in=41)
    ev = run_checks(project, instance, [dg.AssetCheckKey(RAW, ROW_COUNT)])
    m = meta(ev[ROW_COUNT])
    assert m["partition"] == "next.csv@00000000000000bb" and m["history_points"] == 15 and ev[ROW_COUNT].passed
    read = read_history(instance, RAW, before=None, horizon=lambda first, newest: -1e18)
    assert sum(x.partition == out.partition for x in read.materializations) == 2


def test_the_hourly_job_flags_a_file_that_never_came(project, instance):
    last = float(int(time.time() - 10 * DAY))  # a fixed past, whole seconds: evaluated "as of" chosen times
    History(instance).daily_files(14, last=last, rows=ROWS)
    job = project.defs.resolve_job_def("customers_history_checks")
    schedule = project.defs.resolve_schedule_def("customers_history_schedule")
    assert schedule.job_name == job.name and schedule.cron_schedule == "0 * * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING

    def as_of(ts: float) -> dg.AssetCheckEvaluation:
        result = job.execute_in_process(
            instance=instance, run_config={"ops": {"raw_customers_history_checks": {"config": {"as_of": iso(ts)}}}}
        )
        assert result.success  # a failed WARN check leaves the run SUCCESS
        assert instance.get_run_by_id(result.run_id).tags["dq/kind"] == "history_checks"
        [evaluation] = result.get_asset_check_evaluations()  # the arrival check only
        assert evaluation.check_name == ARRIVAL
        return evaluation

    overdue = as_of(last + 72 * HOUR)
    m = meta(overdue)
    assert not overdue.passed and m["mode"] == "overdue watch" and m["value"] == 72.0
    assert m["expected_high"] == 24.875 and m["history_points"] == 13 and m["last_arrival"] == iso(last)
    assert overdue.description == (
        f"no new file for 72.0 h (last arrived {iso(last)}); history predicts at most "
        f"24.9 h (median 24.0 h over 13 gaps between files in the last 28 days)"
    )
    on_time = as_of(last + 20 * HOUR)
    assert on_time.passed and meta(on_time)["value"] == 20.0
    # as of half a day after the third file, only three files had come: two gaps, still learning
    third = last - 11 * DAY
    early = as_of(third + 12 * HOUR)
    assert early.passed and not meta(early)["judged"] and meta(early)["history_points"] == 2
    assert early.description == (
        f"no new file for 12.0 h (last arrived {iso(third)}); learning: 2 of 7 gaps "
        "between files in the last 28 days; judged from 7 on"
    )


def test_column_metrics_judge_each_profile_key_found_and_skip_means_of_pii_columns(project, instance):
    history = History(instance)
    now = time.time()
    profile = {
        "profile/phone/null_rate": [0.10, 0.12] * 7,
        "profile/email/null_rate": [0.0] * 14,
        "profile/income/mean": [49_000.0, 51_000.0] * 7,
        "profile/customer_id/mean": [500.0, 600.0] * 7,
    }
    history.daily_files(14, last=now - 2 * DAY, failure_rate=RATES, profile=profile)
    history.materialize(
        CLEANED,
        "today.csv@00000000000000aa",
        now - HOUR,
        failure_rate=0.05,
        **{
            "profile/phone/null_rate": 0.5,
            "profile/email/null_rate": 0.0,
            "profile/income/mean": 50_500.0,
            "profile/customer_id/mean": 100_000.0,
        },
    )
    ev = run_checks(
        project, instance, [dg.AssetCheckKey(CLEANED, COLUMN_METRICS), dg.AssetCheckKey(CLEANED, FAILURE_RATE)]
    )
    assert ev[FAILURE_RATE].passed and meta(ev[FAILURE_RATE])["value"] == 0.05

    cols = ev[COLUMN_METRICS]
    m = meta(cols)
    assert not cols.passed and cols.severity == dg.AssetCheckSeverity.WARN
    # phone null rate: median 0.11, MAD 0.01 -> scale 0.014826 * K14 = 0.032597 -> 0 (clipped)..0.224089;
    # 0.5 is z = 12.0
    assert (m["metric"], m["value"], m["median"]) == ("phone null rate", 0.5, pytest.approx(0.11))
    assert m["expected_low"] == 0 and m["expected_high"] == pytest.approx(0.224089, rel=1e-4)
    assert m["robust_z"] == pytest.approx(0.39 / 0.032597, rel=1e-4)
    assert (m["metrics_judged"], m["metrics_anomalous"], m["metrics_learning"]) == (3, 1, 0)
    assert m["judged_keys"] == "profile/email/null_rate, profile/phone/null_rate, profile/income/mean"
    table = m["metrics"]
    assert "| phone null rate | 50.00% | 0.00%–22.41% | +12.0 | **anomaly** |" in table
    assert "| income mean | 50,500 | 38,591–61,409 | +0.2 | ok |" in table  # median 50,000, scale 1,482.6 * K14
    assert "| email null rate | 0.00% | 0.00%–1.75% | +0.0 | ok |" in table  # always 0: the 0.5 pp floor
    assert "customer_id" not in table  # PII column: its mean is never judged nor shown
    assert cols.description == (
        "1 of 3 column metrics outside history; worst: phone null rate 50.00%, history "
        "predicts 0.00%–22.41% (median 11.00% over 14 files in the last 28 days)"
    )


def test_history_is_read_back_only_as_far_as_the_window_and_an_old_file_rerun_keeps_its_arrival(any_instance):
    """40 daily files, the oldest re-run two hours ago, then today's file; pages of 10 records.

    Storage returns newest first: f40, f00 (its re-run), f39 ... The reading stops at the page that
    passes the window start (f11..f02): f01 and f00's first materialization are never paged. f00,
    first seen two hours ago, is then asked about once (one query for the partitions first seen
    inside the span): its first materialization is 40 days old, so it is no point of the window.
    """
    instance = any_instance
    history = History(instance)
    now = float(int(time.time()))
    for i in range(40):
        history.materialize(RAW, f"f{i:02d}", now - (40 - i) * DAY, rows_in=1000)
    history.materialize(RAW, "f00", now - 2 * HOUR, rows_in=5)  # an old file re-run: not a new arrival
    history.materialize(RAW, "f40", now, rows_in=1000)
    settings = Settings()
    read = read_history(instance, RAW, before=None, horizon=horizon_for(settings, "f40", True, True), page_size=10)
    # 4 pages; then one query about the files first seen inside the span (f00 among them: it is old, so
    # the previous arrival is f39, not f00's re-run, and the arrival window starts a day earlier), and
    # one about f11, which that earlier start brought inside the span
    assert read.queries == 6
    assert len(read.materializations) == 41 and "f01" not in {m.partition for m in read.materializations}
    verdict, current = judge_value(read, "rows_in", "f40", settings, COUNT)
    assert current == "f40" and verdict.points == 28 and verdict.median == 1000  # f12..f39; not f00
    arrival, info = judge_arrival(read, "f40", now, settings)
    # gaps dated by their start, in the 28 days before the previous arrival (f39): f11..f38
    assert arrival.value == 24.0 and info["previous_arrival"] == iso(now - DAY) and arrival.points == 28
    # outside a file's run: the newest file (f40) is judged, and the last arrival is f40's
    read = read_history(instance, RAW, before=now + HOUR, horizon=horizon_for(settings, None, True, True), page_size=10)
    overdue, info = judge_arrival(read, None, now + HOUR, settings)
    assert info["last_arrival"] == iso(now) and overdue.value == 1.0 and overdue.points == 28


def customers_with(extra: str) -> str:
    return (CONTRACTS_DIR / "customers.yaml").read_text().split("\n# SLA:")[0] + extra


def test_severity_error_alerts_high_yet_never_blocks(make_project, instance):
    project = make_project(customers_with("\nhistory: {severity: error, metrics: [arrival]}\n"))
    graph = project.defs.resolve_asset_graph()
    names = {k.name for k in graph.asset_check_keys if k.name.endswith(("_history", "_matches_history"))}
    assert names == {ARRIVAL}  # only the metrics the contract lists
    assert not graph.get_check_spec(dg.AssetCheckKey(RAW, ARRIVAL)).blocking
    last = float(int(time.time() - 5 * DAY))
    History(instance).daily_files(10, last=last, rows=[40] * 10)
    result = project.defs.resolve_job_def("customers_history_checks").execute_in_process(
        instance=instance,
        run_config={"ops": {"raw_customers_history_checks": {"config": {"as_of": iso(last + 2 * DAY)}}}},
    )
    assert result.success
    [ev] = result.get_asset_check_evaluations()
    assert not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR
    text = console_alerts(project, instance)
    assert "[HIGH] customers: anomaly against history: raw_customers.arrival_matches_history" in text
    assert "blocking gate" not in text and "no new file for 48.0 h" in text


def test_weekly_seasonality_from_the_contract_accepts_a_small_saturday(project, make_project, instance):
    """Weekdays ~1,000 rows, weekends ~200: a Saturday of 200 is an anomaly only without seasonality.

    Twelve weeks of files and a window of 84 days: 12 Saturdays to compare with (4 judge only gross
    changes, see history.py)."""
    today = dt.datetime.now(dt.UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    saturday = today - dt.timedelta(days=(today.weekday() - 5) % 7 + 7)  # a past Saturday, 06:00 UTC
    history = History(instance)
    for i in range(84):  # the 84 days before it, starting on a Saturday
        day = saturday - dt.timedelta(days=84 - i)
        weekend = day.weekday() >= 5
        history.materialize(
            RAW,
            f"d{i:02d}.csv@{i:016x}",
            day.timestamp(),
            rows_in=([190, 210] if weekend else [990, 1010])[(i // 7) % 2],
        )
    history.materialize(RAW, "saturday.csv@00000000000000aa", saturday.timestamp(), rows_in=200)
    key = dg.AssetCheckKey(RAW, ROW_COUNT)

    plain = run_checks(project, instance, [key])[ROW_COUNT]  # the shipped contract: no seasonality
    assert not plain.passed and meta(plain)["median"] == 990 and meta(plain)["history_points"] == 28

    weekly = make_project(customers_with("\nhistory: {seasonality: weekly, window: 84d, metrics: [row_count]}\n"))
    ev = run_checks(weekly, instance, [key])[ROW_COUNT]
    m = meta(ev)
    assert ev.passed and (m["seasonality"], m["weekday"], m["history_points"], m["median"]) == (
        "weekly (Saturday)",
        "Saturday",
        12,
        200,
    )
    # 200 +- 3.5 * 14.826 * K12 (2.6072) = 65..335
    assert ev.description == (
        "200 rows; history predicts 65–335 (median 200 over 12 Saturday files in the last 84 days)"
    )


def test_checks_are_separate_definitions_in_the_pipeline_job_and_can_be_switched_off(project):
    job = project.defs.resolve_job_def("customers_pipeline")
    keys = job.asset_layer.asset_graph.asset_check_keys
    mine = {
        dg.AssetCheckKey(RAW, ROW_COUNT),
        dg.AssetCheckKey(RAW, ARRIVAL),
        dg.AssetCheckKey(CLEANED, FAILURE_RATE),
        dg.AssetCheckKey(CLEANED, COLUMN_METRICS),
    }
    assert mine <= set(keys)
    ops = {n.name for n in job.graph.node_defs}
    assert {"raw_customers_history_checks", "cleaned_customers_history_checks"} <= ops  # own steps, after the asset
    graph = project.defs.resolve_asset_graph()
    assert not any(graph.get_check_spec(k).blocking for k in mine)
    only = project.defs.resolve_job_def("customers_history_checks")
    assert {n.name for n in only.graph.node_defs} == {"raw_customers_history_checks"}

    off = build_history_checks(parse_contract(customers_with("\nhistory: {enabled: false}\n")), RAW, CLEANED)
    assert (off.checks, off.jobs, off.schedules) == ([], [], [])
