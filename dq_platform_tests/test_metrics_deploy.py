"""The monitoring files under deploy/: Prometheus config and alert rules (promtool), Grafana provisioning.

`promtool` ships with Debian's `prometheus` package (`.ci/run` installs it). Grafana itself cannot
run here: its provisioning and dashboard JSON are checked for what Grafana reads (uids, panels,
datasource references), and every panel's PromQL is evaluated by test_metrics_prometheus.py.
"""

from __future__ import annotations

import json
import re
import subprocess

import yaml

from dq_platform.services.metrics.catalog import METRICS
from dq_platform_tests.conftest import REPO
from dq_platform_tests.prometheus import PROMTOOL, require

PROM = REPO / "deploy" / "prometheus"
GRAFANA = REPO / "deploy" / "grafana"
RULES = PROM / "rules" / "dq_platform.rules.yml"
ALERTS = {"DqExporterDown", "DqFreshnessSlaBreached", "DqFailureRateAboveErrorLevel", "DqRunsFailingRepeatedly"}
PANEL_TYPES = {"stat", "timeseries", "bargauge", "table", "piechart", "gauge"}


def _promtool(*args: str, cwd=None) -> str:
    done = subprocess.run([require(PROMTOOL), *args], capture_output=True, text=True, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_promtool_accepts_the_scrape_config_with_its_rules(tmp_path):
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    assert config["scrape_configs"][0]["static_configs"][0]["targets"] == ["metrics:9109"]  # the compose service
    config["rule_files"] = [str(RULES)]  # the compose mount, here
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    out = _promtool("check", "config", str(tmp_path / "prometheus.yml"))
    assert "SUCCESS: 4 rules found" in out


def test_promtool_checks_the_rules_and_their_unit_tests_cover_every_alert():
    assert "SUCCESS: 4 rules found" in _promtool("check", "rules", str(RULES))
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    assert {r["alert"] for r in rules} == ALERTS
    tests = yaml.safe_load((PROM / "rules" / "dq_platform.rules.test.yml").read_text())["tests"]
    fired = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if a["exp_alerts"]}
    quiet = {a["alertname"] for t in tests for a in t.get("alert_rule_test", []) if not a["exp_alerts"]}
    assert fired == quiet == ALERTS  # each alert is tested firing and not firing
    assert "SUCCESS" in _promtool("test", "rules", "dq_platform.rules.test.yml", cwd=PROM / "rules")
    known = {m.name for m in METRICS}
    for r in rules:  # every metric a rule reads is one the exporter serves (or Prometheus's own `up`)
        used = set(re.findall(r"\b(dq_[a-z_]+)\b", re.sub(r'"[^"]*"', "", r["expr"])))
        assert used <= known, used - known


def test_a_broken_rule_fails_promtool(tmp_path):
    bad = tmp_path / "bad.rules.yml"
    bad.write_text(
        RULES.read_text().replace("dq_dataset_consecutive_failed_runs >= 3", "dq_dataset_consecutive_failed_runs >=")
    )
    done = subprocess.run([require(PROMTOOL), "check", "rules", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "parse error" in (done.stdout + done.stderr)


def test_grafana_provisioning_points_at_the_dashboards_and_one_datasource():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    grafana = compose["services"]["grafana"]["volumes"]
    mounts = dict(v.removesuffix(":ro").split(":", 1) for v in grafana if v.startswith("./"))
    assert mounts == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./deploy/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    (source,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090" and source["uid"]
    (provider,) = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dq_platform.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == mounts["./deploy/grafana/dashboards"]
    prometheus = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/rules:/etc/prometheus/rules:ro" in prometheus


def test_dashboards_have_what_grafana_needs():
    source_uid = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ][0]["uid"]
    known = {m.name for m in METRICS}
    paths = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert [p.stem for p in paths] == ["data_quality", "platform_overview", "privacy", "sla"]
    uids, used = set(), set()
    for path in paths:
        d = json.loads(path.read_text())
        assert d["uid"] and d["uid"] not in uids and len(d["uid"]) <= 40, path.name
        uids.add(d["uid"])
        assert d["title"] and isinstance(d["schemaVersion"], int) and d["panels"], path.name
        ids = [p["id"] for p in d["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for var in d.get("templating", {}).get("list", []):
            assert var["datasource"]["uid"] == source_uid, f"{path.name}: variable {var['name']}"
        for panel in d["panels"]:
            where = f"{path.name} panel {panel['id']}"
            assert panel["type"] in PANEL_TYPES and panel["title"], where
            assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
            assert panel["datasource"] == {"type": "prometheus", "uid": source_uid}, where
            assert panel["targets"], where
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs)), where
            for t in panel["targets"]:
                assert t["datasource"]["uid"] == source_uid and t["expr"].strip(), where
                used |= set(re.findall(r"\b(dq_[a-z_]+?)(?:_bucket|_sum|_count)?\b", re.sub(r'"[^"]*"', "", t["expr"])))
    # the dashboards show every metric the exporter serves about the platform (not its own dq_exporter_*)
    assert {m for m in known if not m.startswith("dq_exporter_")} - used == set()


def test_the_docs_page_lists_every_metric_with_its_type_and_labels():
    rows = {}
    for line in (REPO / "docs" / "metrics.md").read_text().splitlines():
        m = re.match(r"\| `(dq_[a-z_]+)` \| (\w+) \|\s*([^|]*?)\s*\|", line)
        if m:
            rows[m.group(1)] = (m.group(2), tuple(x.strip() for x in m.group(3).split(",") if x.strip()))
    assert rows == {m.name: (m.kind, m.labels) for m in METRICS}
