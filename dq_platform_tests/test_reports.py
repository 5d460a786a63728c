"""Per-run reports and quarantine extracts, written under the warehouse (local and S3 with SSE-KMS)."""

import csv
import io
import json
import re
from pathlib import Path

import pytest

from .test_pipeline import customer_frame
from .test_versions import every_object, kms_key  # noqa: F401 - fixture

pytestmark = pytest.mark.slow

NAME = r"(run_report|check_results|quarantine)_[0-9a-f]{8}_\d{8}_\d{6}\.(html|json|md|csv)"


def test_reports_for_a_run_with_quarantined_rows(project, instance):
    out = project.ingest(instance, "customers", project.write_csv("customers/r.csv", customer_frame(30, bad=3)))
    assert out.success and out.rows["quarantined"] == 3
    wh = Path(project.warehouse).resolve()
    assert set(out.reports) == {"html", "json", "markdown", "checks", "quarantine"}
    for kind, uri in out.reports.items():
        folder = "quarantine" if kind == "quarantine" else "reports"
        assert Path(uri).parent == wh / folder / "customers" and re.fullmatch(NAME, Path(uri).name), uri
    # the URIs are on the run itself, so the audit log links its reports
    tags = instance.get_run_by_id(out.run_id).tags
    assert {k: v for k, v in tags.items() if k.startswith("dq/report/")} == {
        f"dq/report/{k}": v for k, v in out.reports.items()
    }
    report = json.loads(Path(out.reports["json"]).read_text())
    assert (report["run_id"], report["status"], report["dataset"]) == (out.run_id, "SUCCESS", "customers")
    assert report["source"]["checksum"] and report["partition"] == out.partition
    checks = json.loads(Path(out.reports["checks"]).read_text())
    assert {(c["asset"], c["check"], c["passed"]) for c in checks} == {(a, c, p) for a, c, p, _ in out.checks}
    assert "| cleaned_customers |" in Path(out.reports["markdown"]).read_text()
    held = Path(out.reports["quarantine"]).read_text()
    assert held.count("not-an-email") == 3 and len(held.strip().splitlines()) == 4  # header + 3 rows
    # raw values stay in the extract: not in the report, the check results or the run's tags
    for uri in ("html", "json", "markdown", "checks"):
        assert "not-an-email" not in Path(out.reports[uri]).read_text()


def test_the_html_report_is_self_contained_with_rules_history_and_row_charts(project, instance):
    """One file that opens anywhere: rule counts, failure-rate history and row counts drawn inline."""
    import html

    import dagster as dg

    from dq_platform.reports.run_report import REPORTS_KEY

    first = project.ingest(instance, "customers", project.write_csv("customers/a.csv", customer_frame(40, bad=2)))
    frame = customer_frame(50, start=100, bad=4)
    frame.loc[frame.index[:3], "income"] = "-1"  # 3 more rows fail income:min
    out = project.ingest(instance, "customers", project.write_csv("customers/b.csv", frame))
    page = Path(out.reports["html"]).read_text()
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and "src=" not in page and "<link" not in page  # nothing to fetch
    assert page.count("<svg") == 3  # rules, failure-rate history, row counts
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    # clean vs quarantined per rule, as bars (SVG text) and as a table
    assert re.search(r"email:format\s+4\s+8\.00%", text) and re.search(r"income:min\s+3\s+6\.00%", text)
    assert "Clean vs quarantined rows per rule" in text and "clean (passed every rule)" in text
    assert "Failure rate history" in text and "Row counts over time" in text
    assert "rows in 50 · cleaned 43 · quarantined 7 failure rate 14.00%" in text  # held: none published
    assert "held for human review" in text
    # history: both runs of the dataset, this one marked, as the JSON report lists them
    report = json.loads(Path(out.reports["json"]).read_text())
    assert [(p["run_id"], p["this_run"], p["failure_rate"]) for p in report["history"]] == [
        (first.run_id, False, 0.05),
        (out.run_id, True, 0.14),
    ]
    assert report["rules"] == [["email:format", 4], ["income:min", 3]]
    assert "not-an-email" not in page
    # the same essentials in the UI: an observation of dq_run_reports for the run, with the markdown
    obs = instance.fetch_observations(REPORTS_KEY, limit=10).records
    mine = [r.asset_observation.metadata for r in obs if r.asset_observation.metadata["run_id"].value == out.run_id]
    assert len(mine) == 1
    md = mine[0]["report"].value
    assert "| email:format | 4 |" in md and "(this run)" in md and "held for human review" in md
    # a link the browser opens: served by `dq-platform ui` beside the webserver (issue #19, finding 6)
    link = mine[0]["html"]
    assert isinstance(link, dg.UrlMetadataValue) and link.value.startswith("http://127.0.0.1:3001/customers/")
    assert out.reports["html"].endswith(link.value.removeprefix("http://127.0.0.1:3001"))


def test_failed_run_still_reports_and_s3_objects_are_encrypted(project, instance, s3_server, s3_bucket, kms_key):  # noqa: F811
    from dq_platform.definitions import build_definitions

    project.warehouse = f"s3://{s3_bucket}/wh"
    project.defs = build_definitions(list(project.contracts.values()), project.warehouse)
    bad = customer_frame(20, bad=15)  # above the failure-rate gate: the run fails
    out = project.ingest(instance, "customers", project.write_csv("customers/bad.csv", bad))
    assert not out.success
    assert out.reports["json"].startswith(f"s3://{s3_bucket}/wh/reports/customers/run_report_")
    assert out.reports["quarantine"].startswith(f"s3://{s3_bucket}/wh/quarantine/customers/quarantine_")
    objects = {o["key"]: o for o in every_object(s3_server, s3_bucket)}
    for kind, uri in out.reports.items():
        key = uri.removeprefix(f"s3://{s3_bucket}/")
        assert (objects[key]["ServerSideEncryption"], objects[key]["SSEKMSKeyId"]) == ("aws:kms", kms_key), kind
    assert all(o.get("ServerSideEncryption") == "aws:kms" for o in objects.values())
    import boto3

    body = (
        boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
        .get_object(Bucket=s3_bucket, Key=out.reports["json"].removeprefix(f"s3://{s3_bucket}/"))["Body"]
        .read()
    )
    report = json.loads(body)
    assert report["status"] == "FAILURE" and report["failures"] and not all(c["passed"] for c in report["checks"])


def test_daemon_launched_run_gets_its_reports_from_the_run_status_sensor(project, instance):
    """A run not started through run_file (as the landing sensor's runs): the sensor writes its reports."""
    import dagster as dg

    from dq_platform.defs.partitions import register, source_tags
    from dq_platform.reports.run_report import reports_after_success

    source = register(
        instance,
        project.contracts["customers"],
        project.write_csv("customers/s.csv", customer_frame(12, bad=1)),
        project.warehouse,
    )
    result = project.defs.resolve_job_def("customers_pipeline").execute_in_process(
        instance=instance, partition_key=source.partition_key, tags=source_tags(source)
    )
    run = instance.get_run_by_id(result.run_id)
    assert not any(k.startswith("dq/report/") for k in run.tags)
    event = instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS).records[0]

    def evaluate():
        ctx = dg.build_run_status_sensor_context(
            sensor_name="dq_reports_after_success",
            dagster_event=event.event_log_entry.dagster_event,
            dagster_instance=instance,
            dagster_run=instance.get_run_by_id(result.run_id),
            resources={"warehouse": project.wh()},
        )
        reports_after_success(ctx)

    evaluate()
    tags = instance.get_run_by_id(result.run_id).tags
    assert {
        "dq/report/html",
        "dq/report/json",
        "dq/report/markdown",
        "dq/report/checks",
        "dq/report/quarantine",
    } <= set(tags)
    assert json.loads(Path(tags["dq/report/json"]).read_text())["run_id"] == result.run_id
    evaluate()  # a second evaluation does not write a second set
    assert len(list((Path(project.warehouse) / "reports" / "customers").glob("run_report_*.json"))) == 1


def test_quarantine_extract_neutralizes_spreadsheet_formulas():
    """OWASP CSV injection: cells starting with = + - @ tab or CR are prefixed with an apostrophe."""
    import pandas as pd

    from dq_platform.reports.run_report import _csv

    risky = ['=HYPERLINK("http://x","y")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    frame = pd.DataFrame({"v": pd.Series([*risky, "plain", None], dtype="string"), "n": range(8)})

    def column_v(data: bytes) -> list[str]:
        return [row[0] for row in csv.reader(io.StringIO(data.decode(), newline=""))][1:]

    assert column_v(_csv(frame)) == ["'" + v for v in risky] + ["plain", ""]
    nested = frame.assign(n=[[1]] * 8)  # the pandas fallback neutralizes the same cells
    assert column_v(_csv(nested))[:6] == ["'" + v for v in risky]
