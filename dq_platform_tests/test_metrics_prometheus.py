"""The metrics exporter, scraped by a real Prometheus, on SQLite and PostgreSQL instances.

`dq-platform metrics serve` runs as a subprocess on the instance before anything happens; Debian's
Prometheus scrapes it every second with the shipped alert rules loaded. Then real pipeline runs: a
passing file, a file held for human review, a file whose PII-leak gate blocks it (undeclared PII),
a file held by the failure-rate gate, a file that fails its run; the alert sensors evaluate once,
and a table is rolled back. PromQL through Prometheus's HTTP API must return the exact values those
runs produced; every panel of every dashboard must return data of the shape its legend expects.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
import requests

from dq_platform.alerts.sensors import run_alert_sensors_once
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.versions import RollbackConfig, launch_rollback
from dq_platform_tests.conftest import PG_TEST_PASSWORD, REPO, Project, instance_env, open_instance
from dq_platform_tests.prometheus import Prometheus, free_port, wait_until
from dq_platform_tests.test_pipeline import LEAKY, customer_frame

pytestmark = pytest.mark.slow

RULES = REPO / "deploy" / "prometheus" / "rules" / "dq_platform.rules.yml"
RUNS = 6  # five files' runs and one rollback


class Platform:
    """One backend after the runs: its instance, the exporter's URL, the Prometheus that scraped it."""

    def __init__(self, kind, instance, project, exporter_url, prometheus, runs, env):
        self.kind, self.instance, self.project = kind, instance, project
        self.exporter_url, self.prometheus, self.runs, self.env = exporter_url, prometheus, runs, env

    def metrics_text(self) -> str:
        return requests.get(f"{self.exporter_url}/metrics", timeout=10).text


def _start_exporter(home, contracts_dir, env, log):
    port = free_port()
    proc_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_PG", "DQ_"))},
        "DAGSTER_HOME": str(home),
        "DQ_PROJECT_DIR": str(REPO),
        "DQ_CONTRACTS_DIR": str(contracts_dir),
        **env,
    }
    exe = os.path.join(os.path.dirname(sys.executable), "dq-platform")
    proc = subprocess.Popen(
        [exe, "metrics", "serve", "--port", str(port)], env=proc_env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"dq-platform metrics serve exited with {proc.returncode}")
        return "dq_exporter_ready 1.0" in requests.get(f"{url}/metrics", timeout=5).text

    wait_until("the exporter to be ready", ready)
    return proc, url


def _scraped_twice(prometheus) -> bool:
    """Every series has two samples or more, so increase() and rate() answer."""
    from dq_platform.services.metrics.catalog import METRICS

    for m in METRICS:
        name = f"{m.name}_count" if m.kind == "histogram" else m.name
        fewest = prometheus.value(f"min(count_over_time({name}[1h]))")
        if fewest is not None and fewest < 2:
            return False
    return True


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def platform(request, tmp_path_factory, pg_databases):
    kind = request.param
    root = tmp_path_factory.mktemp(f"metrics_{kind}")
    contracts_dir = root / "contracts"
    contracts_dir.mkdir()
    (contracts_dir / "customers.yaml").write_text((CONTRACTS_DIR / "customers.yaml").read_text())
    (contracts_dir / "leaky.yaml").write_text(LEAKY)
    env = instance_env(kind, pg_databases, "metrics")
    instance = open_instance(root / "home", env)
    project = Project(root, contracts_dir)
    log = open(root / "exporter.log", "wb")  # noqa: SIM115
    exporter, url = _start_exporter(root / "home", contracts_dir, env, log)
    prometheus = None
    try:
        prometheus = Prometheus(root / "prometheus", url.removeprefix("http://"), [RULES])
        wait_until("a first scrape", lambda: prometheus.value("dq_exporter_ready") == 1)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DQ_MASKING_KEY", "metrics-test-masking-key-0123456789")
            runs = {
                "ok": project.ingest(
                    instance, "customers", project.write_csv("customers/ok.csv", customer_frame(40, bad=2))
                ),
                "review": project.ingest(
                    instance,
                    "customers",
                    project.write_csv("customers/review.csv", customer_frame(40, start=100, bad=6)),
                ),
                "leaky": project.ingest(
                    instance,
                    "leaky",
                    project.write_csv(
                        "leaky/l.csv",
                        pd.DataFrame(
                            {
                                "id": ["1", "2", "3"],
                                "note": ["call me", "mail jane.doe@corp.com", "4111 1111 1111 1111"],
                            }
                        ),
                    ),
                ),
                "held": project.ingest(
                    instance,
                    "customers",
                    project.write_csv("customers/held.csv", customer_frame(40, start=200, bad=20)),
                ),
            }
            corrupt = project.landing / "customers" / "corrupt.csv"
            corrupt.write_bytes(gzip.compress(b"customer_id,email\n1,a@b.co\n"))
            runs["broken"] = project.ingest(instance, "customers", corrupt)
            keys = project.defs.resolve_asset_graph().asset_check_keys
            run_alert_sensors_once(
                instance,
                list(project.contracts.values()),
                keys,
                {},
                console_stream=io.StringIO(),
                warehouse=project.wh(),
            )
            runs["rollback"] = launch_rollback(
                instance,
                RollbackConfig(table="raw_customers", to_version=1, reason="metrics test", who="tester"),
                contracts_dir=str(contracts_dir),
                warehouse_root=project.warehouse,
            )
        assert [runs[k].success for k in ("ok", "review", "leaky", "held", "broken", "rollback")] == [
            True,
            True,
            False,
            False,
            False,
            True,
        ]
        # scraped after every run was read, and a few scrapes more so rates have samples
        wait_until("the runs to be scraped", lambda: prometheus.value("dq_exporter_runs_read_total") == RUNS)
        wait_until("two scrapes of every series", lambda: _scraped_twice(prometheus))
        yield Platform(kind, instance, project, url, prometheus, runs, env)
    finally:
        if prometheus is not None:
            prometheus.stop()
        exporter.terminate()
        exporter.wait(timeout=20)
        log.close()
        instance.dispose()


def test_rows_per_dataset_and_quarantine_by_rule_are_exact(platform):
    p = platform.prometheus
    # customers: ok 40 (2 bad), review 40 (6 bad), held 40 (20 bad); the broken file stored nothing
    assert p.values("dq_rows_received_total", "dataset") == {"customers": 120, "leaky": 3}
    assert p.values("dq_rows_cleaned_total", "dataset") == {"customers": 92, "leaky": 3}
    assert p.values("dq_rows_quarantined_total", "dataset") == {"customers": 28, "leaky": 0}
    # only the passing file reached masked: the review file waits, the held and leaky ones were blocked
    assert p.values("dq_rows_published_total", "dataset") == {"customers": 38, "leaky": 0}
    assert p.values('dq_quarantined_rows_by_rule_total{dataset="customers"}', "rule") == {"email:format": 28}
    assert p.values("dq_latest_file_failure_ratio", "dataset") == {"customers": 0.5, "leaky": 0}
    assert p.values('dq_failure_ratio_threshold{dataset="customers"}', "level") == {
        "warn": 0.05,
        "review": 0.10,
        "error": 0.25,
    }


def test_runs_by_status_and_trigger_and_consecutive_failures(platform):
    p = platform.prometheus
    runs = p.query("dq_runs_total")
    got = {tuple(r["metric"][k] for k in ("dataset", "kind", "status", "trigger")): float(r["value"][1]) for r in runs}
    assert got == {
        ("customers", "pipeline", "success", "ui"): 2,
        ("customers", "pipeline", "failure", "ui"): 2,
        ("leaky", "pipeline", "failure", "ui"): 1,
        ("-", "rollback", "success", "cli"): 1,
    }
    assert p.values("dq_dataset_consecutive_failed_runs", "dataset") == {"customers": 2, "leaky": 1}
    assert p.value('sum(dq_run_duration_seconds_count{kind="pipeline"})') == 5
    assert p.value('dq_run_duration_seconds_bucket{dataset="customers",kind="pipeline",le="+Inf"}') == 4
    assert 0 < p.value('dq_run_duration_seconds_sum{dataset="customers",kind="pipeline"}') < 300
    stages = p.values('dq_stage_duration_seconds_count{dataset="customers"}', "stage")
    # raw succeeded in three runs (not the broken one), clean in two (the rejected file's step failed at its
    # gate), masked in two (the review file's writes nothing), each of the 3 gold tables once
    assert stages["raw"] == 3 and stages["cleaned"] == 2 and stages["masked"] == 2 and stages["gold"] == 3


def test_check_outcomes_pii_gate_blocks_and_review_holds(platform):
    p = platform.prometheus
    rate = p.query('dq_check_evaluations_total{dataset="customers",check="failure_rate_within_threshold"}')
    got = {(r["metric"]["severity"], r["metric"]["outcome"]): float(r["value"][1]) for r in rate}
    # 5% passes (at warn), 15% fails as WARN (held for review), 50% fails as ERROR (rejected)
    assert got == {("WARN", "passed"): 1, ("WARN", "failed"): 1, ("ERROR", "failed"): 1}
    assert p.values("dq_pii_gate_blocks_total", "dataset") == {"customers": 0, "leaky": 1}
    assert p.value('dq_pii_gate_blocks_total{dataset="leaky",layer="masked",check="masked_has_no_pii"}') == 1
    assert p.values("dq_files_held_for_review", "dataset") == {"customers": 1, "leaky": 0}
    failed = p.value('sum(dq_check_evaluations_total{outcome="failed"})')
    stored = sum(
        getattr(r.event.dagster_event.event_specific_data, "passed", None) is False  # not the planned ones
        for k in platform.project.defs.resolve_asset_graph().asset_check_keys
        for r in platform.instance.event_log_storage.get_asset_check_execution_history(k, limit=100)
        if r.event is not None and r.event.dagster_event is not None
    )
    assert failed == stored  # every failed evaluation on record, once


def test_incidents_deliveries_versions_rollbacks_and_freshness(platform):
    p = platform.prometheus
    incidents = {
        (r["metric"]["dataset"], r["metric"]["severity"]): float(r["value"][1])
        for r in p.query("dq_alert_incidents_open > 0")
    }
    # the rejected file (HIGH), the file waiting for review (MEDIUM), the PII leak and the broken run
    # (CRITICAL), and the leaky dataset's undeclared PII column seen on raw (MEDIUM, a WARN check)
    assert incidents == {
        ("customers", "HIGH"): 1,
        ("customers", "MEDIUM"): 1,
        ("customers", "CRITICAL"): 1,
        ("leaky", "CRITICAL"): 1,
        ("leaky", "MEDIUM"): 1,
    }
    # one console delivery per alert announced
    assert p.values("dq_alert_deliveries_total", "outcome") == {"delivered": 5}
    versions = p.values('dq_table_version{dataset="customers"}', "table")
    # cleaned and quarantine written by three files' runs (versions 0..2); raw too, then restored as version 3
    assert versions["cleaned_customers"] == 2 and versions["quarantine_customers"] == 2
    assert versions["raw_customers"] == 3 and versions["masked_customers"] == 0
    assert p.values("dq_table_rollbacks_total", "table") == {"raw_customers": 1}
    assert p.values("dq_dataset_freshness_sla_seconds", "dataset") == {"customers": 26 * 3600}
    lag = p.value('dq_dataset_freshness_lag_seconds{dataset="customers"}')
    assert 0 <= lag < 600
    published = p.value('dq_dataset_last_published_timestamp_seconds{dataset="customers"}')
    assert abs(p.value("time()") - lag - published) < 60


def test_alert_rules_fire_on_real_metrics(platform):
    """The rejected file's 50% is above customers' 25% error level: the rule fires at once (no `for`)."""
    p = platform.prometheus
    firing = wait_until(
        "the failure-rate alert",
        lambda: p.query('ALERTS{alertstate="firing",alertname="DqFailureRateAboveErrorLevel"}'),
        timeout=15,
    )
    assert [a["metric"]["dataset"] for a in firing] == ["customers"]
    assert not p.query('ALERTS{alertname=~"DqRunsFailingRepeatedly|DqFreshnessSlaBreached|DqExporterDown"}')


def test_metrics_follow_prometheus_conventions_and_hold_no_pii_or_secret(platform):
    from dq_platform.services.metrics.catalog import METRICS

    text = platform.metrics_text()
    for m in METRICS:
        assert f"# HELP {m.name} {m.help}" in text and f"# TYPE {m.name} {m.kind}\n" in text, m.name
        assert (m.kind == "counter") == m.name.endswith("_total"), m.name
        assert m.name.startswith("dq_") and not re.search(r"_(ms|milliseconds|minutes|hours|percent)(_|$)", m.name)
    assert "partition" not in text and "run_id" not in text
    for run in platform.runs.values():
        assert run.run_id not in text
    for leaked in (
        "example.com",
        "jane.doe",
        "4111 1111",
        "ok.csv",
        "held.csv",
        "corrupt.csv",
        "tester",
        PG_TEST_PASSWORD,
    ):
        assert leaked not in text, leaked
    label_values = set(re.findall(r'="([^"]*)"', text))
    assert not {v for v in label_values if "@" in v or "/" in v}, "a label carries a partition or a path"


def test_a_restarted_exporter_reads_the_same_totals_from_the_event_log(platform):
    """Catch-up from storage id 0 gives what the incremental reads gave, run by run."""
    from prometheus_client import generate_latest

    from dq_platform.services.metrics.exporter import build_registry

    registry, collector = build_registry(platform.instance, list(platform.project.contracts.values()))
    assert "dq_exporter_ready 0.0" in generate_latest(registry).decode()  # before the catch-up: no totals
    assert "dq_rows_received_total" not in generate_latest(registry).decode()
    collector.catch_up()
    fresh = generate_latest(registry).decode()
    live = platform.metrics_text()

    def stable(text):  # totals and latest values; not the lag, the cursor timing or the refresh time
        return sorted(
            line
            for line in text.splitlines()
            if line.startswith("dq_") and not re.match(r"dq_(exporter_refresh|dataset_freshness_lag)", line)
        )

    assert stable(fresh) == stable(live)


# -- the dashboards' PromQL against the same Prometheus ------------------------------------------

DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
# Grafana's variables as a dashboard opened with its defaults would send them
VARIABLES = {"$__rate_interval": "1m", "$__interval": "1s", "$__range": "1h", "$dataset": ".*"}


def _expr(text: str) -> str:
    for name, value in VARIABLES.items():
        text = text.replace(name, value)
    assert "$" not in text, f"unknown variable in {text}"
    return text


def test_every_dashboard_panel_returns_data_of_the_shape_its_legend_expects(platform):
    import json

    p = platform.prometheus
    checked = 0
    for path in sorted(DASHBOARDS.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                where = f"{path.name} panel {panel['id']} ({panel['title']}) {target['refId']}"
                expr = _expr(target["expr"])
                result = p.query(expr)
                assert result, f"{where}: no data for {expr}"
                wanted = set(re.findall(r"{{\s*(\w+)\s*}}", target.get("legendFormat", "")))
                for sample in result:
                    assert wanted <= set(sample["metric"]), f"{where}: {sample['metric']} lacks {wanted}"
                    float(sample["value"][1])  # a number (NaN included: no rate yet)
                if panel["type"] == "timeseries":
                    assert p.query_range(expr), f"{where}: no range data for {expr}"
                checked += 1
    assert checked >= 35


def test_last_a_reviewers_approval_ends_the_hold_and_publishes_the_file(platform):
    """Runs last in this module: it adds a review run and a publish run to what the others assert."""
    from dq_platform.defs.review import ReviewConfig, decide

    p, project = platform.prometheus, platform.project
    config = ReviewConfig(
        dataset="customers",
        partition=platform.runs["review"].partition,
        decision="approve",
        reviewer="ann@example.com",
        comment="checked with the supplier",
    )
    outcome = decide(
        platform.instance, config, contracts_dir=str(project.contracts_dir), warehouse_root=project.warehouse
    )
    assert outcome.success and outcome.published, outcome.error
    wait_until("the decision to be scraped", lambda: p.value("dq_exporter_runs_read_total") == RUNS + 2)
    assert p.values("dq_files_held_for_review", "dataset") == {"customers": 0, "leaky": 0}
    assert p.values("dq_rows_published_total", "dataset") == {"customers": 38 + 34, "leaky": 0}
    assert p.values('dq_runs_total{kind=~"review|publish"}', "kind") == {"review": 1, "publish": 1}
    assert p.value('dq_table_version{table="masked_customers"}') == 1
    text = platform.metrics_text()
    assert "ann@example.com" not in text and "supplier" not in text
