"""Human review end to end: hold -> approve -> published; hold -> reject -> quarantined; auto-approve.

Real runs on real Delta tables and a real Dagster instance; decisions go through the same
`dq_review` job the UI launches (the CLI path executes it on the instance), the approval's
publication through the `<dataset>_publish` job, launched by the CLI or by the publisher sensor.
"""

import json

import dagster as dg
import pytest

from dq_platform.alerts.sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from dq_platform.cli import main
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.review import REJECTED_RULE, ReviewConfig, decide, held_partitions
from dq_platform.engine import rules
from dq_platform.names import AUTO_APPROVE_TAG, REVIEW_CHECK
from dq_platform.reports.run_report import reports_after_success
from dq_platform_tests.conftest import Ticker
from dq_platform_tests.test_pipeline import customer_frame

pytestmark = pytest.mark.slow


def evaluations(instance, run_id) -> dict[str, dg.AssetCheckEvaluation]:
    out = {}
    for r in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records:
        ev = r.event_log_entry.dagster_event.event_specific_data
        out[f"{ev.asset_key.path[-1]}.{ev.check_name}"] = ev
    return out


def meta(evaluation, key="dq/review"):
    v = evaluation.metadata.get(key)
    return getattr(v, "value", v)


def counts(project, partition) -> dict[str, int]:
    wh = project.wh()
    return {t: wh.row_counts(f"{t}_customers").get(partition, 0) for t in ("raw", "cleaned", "quarantine", "masked")}


def review(project, instance, partition, decision, reviewer="ann@example.com", comment="checked with the supplier"):
    config = ReviewConfig(
        dataset="customers", partition=partition, decision=decision, reviewer=reviewer, comment=comment
    )
    return decide(instance, config, contracts_dir=str(project.contracts_dir), warehouse_root=project.warehouse)


def held_file(project, instance, name="held", start=1000):
    """100 customers, 15 with a bad email: 15% failed, above review (10%), within error (25%)."""
    return project.ingest(
        instance, "customers", project.write_csv(f"customers/{name}.csv", customer_frame(100, start=start, bad=15))
    )


def test_a_file_above_the_review_level_is_held_then_approved_and_published(project, instance):
    good = project.ingest(instance, "customers", project.write_csv("customers/good.csv", customer_frame(50)))
    assert good.success and not good.held
    held = held_file(project, instance)

    # held: the run succeeds, nothing of the file is published, the review check says what to do
    assert held.success and held.held, held.error
    assert held.rows == {"in": 100, "cleaned": 85, "quarantined": 15}
    ev = evaluations(instance, held.run_id)
    assert not ev[f"cleaned_customers.{REVIEW_CHECK}"].passed
    assert ev[f"cleaned_customers.{REVIEW_CHECK}"].severity == dg.AssetCheckSeverity.WARN
    assert "dq-platform review approve|reject customers" in ev[f"cleaned_customers.{REVIEW_CHECK}"].description
    assert meta(ev["cleaned_customers.failure_rate_within_threshold"]) == "required"
    assert meta(ev["masked_customers.masked_source_passed_gates"]) == "required"
    assert counts(project, held.partition) == {"raw": 100, "cleaned": 85, "quarantine": 15, "masked": 0}
    assert project.wh().last_commit("cleaned_customers", held.partition)["dq_gates"] == "review"
    assert project.wh().read("customers_by_status")["customers"].sum() == 50  # gold: the good file only
    (h,) = held_partitions(instance, project.wh(), list(project.contracts.values()))
    assert (h.partition, h.failure_rate, h.rows_in, h.pending) == (held.partition, 0.15, 100, True)

    # approve: the decision is a run with its tags, then the publish job writes masked and gold
    outcome = review(project, instance, held.partition, "approve")
    assert outcome.success and outcome.published, outcome.error
    tags = instance.get_run_by_id(outcome.run_id).tags
    assert {k: tags[f"dq/review/{k}"] for k in ("decision", "reviewer", "comment", "cleaned_version")} == {
        "decision": "approve",
        "reviewer": "ann@example.com",
        "comment": "checked with the supplier",
        "cleaned_version": str(h.cleaned_version),
    }
    assert counts(project, held.partition)["masked"] == 85
    assert project.wh().read("customers_by_status")["customers"].sum() == 135
    published = evaluations(instance, outcome.publish_run_id)["masked_customers.masked_source_passed_gates"]
    assert published.passed and meta(published) == "approved" and "approved by ann@example.com" in published.description
    assert instance.get_run_by_id(outcome.publish_run_id).tags["dq/review/run_id"] == outcome.run_id
    assert project.wh().last_commit("masked_customers", held.partition)["dagster_run_id"] == outcome.publish_run_id
    decided = evaluations(instance, outcome.run_id)[f"cleaned_customers.{REVIEW_CHECK}"]
    assert decided.passed and meta(decided) == "approved" and decided.partition == held.partition
    assert_publication_report(
        instance,
        outcome.publish_run_id,
        outcome.reports,
        held,
        outcome.run_id,
        "ann@example.com",
        "checked with the supplier",
    )
    assert held_partitions(instance, project.wh(), list(project.contracts.values())) == []

    # a re-run of the file is new cleaned data: held again, the approved masked version stays in place
    again = project.run(instance, "customers", held_source(project, held))
    assert again.held
    (h2,) = held_partitions(instance, project.wh(), list(project.contracts.values()))
    assert h2.cleaned_version > h.cleaned_version and h2.pending
    assert counts(project, held.partition)["masked"] == 85
    assert project.wh().last_commit("masked_customers", held.partition)["dagster_run_id"] == outcome.publish_run_id


def assert_publication_report(instance, publish_run_id, reports, held, review_run_id, reviewer, comment):
    """The publish run's own report: the decision, the held run's counts and source, what it published."""
    import html
    import re
    from pathlib import Path

    held_tags = instance.get_run_by_id(held.run_id).tags
    publish_tags = instance.get_run_by_id(publish_run_id).tags
    assert publish_tags["dq/report/html"] == reports["html"]
    # the audit log says which file was published, on whose decision, held by which run
    assert {k: publish_tags[k] for k in ("dq/source_uri", "dq/checksum", "dq/size")} == {
        k: held_tags[k] for k in ("dq/source_uri", "dq/checksum", "dq/size")
    }
    assert instance.get_run_by_id(review_run_id).tags["dq/review/held_run"] == held.run_id
    report = json.loads(Path(reports["json"]).read_text())
    assert (report["run_id"], report["job"], report["status"]) == (publish_run_id, "customers_publish", "SUCCESS")
    assert report["publication"] | {"decided": None} == {
        "review_run_id": review_run_id,
        "decision": "approve",
        "reviewer": reviewer,
        "comment": comment,
        "decided": None,
        "cleaned_version": instance.get_run_by_id(review_run_id).tags["dq/review/cleaned_version"],
        "held_run_id": held.run_id,
        "held_run_report": held_tags["dq/report/html"],
        "held_quarantine": held_tags["dq/report/quarantine"],
    }
    assert report["publication"]["decided"] and report["review"] == f"approved by {reviewer}"
    assert report["rows"] == {"in": 100, "cleaned": 85, "quarantined": 15, "published": 85}
    assert report["failure_rate"] == 0.15 and report["rules"] == [["email:format", 15]]
    assert report["source"]["checksum"] == held_tags["dq/checksum"]
    # no second quarantine extract: the publication links the held run's
    assert reports["quarantine"] == held_tags["dq/report/quarantine"]
    assert [p["run_id"] for p in report["history"] if p["this_run"]] == [held.run_id]  # the file's run, marked
    assert {m["asset"] for m in report["materializations"]} >= {"masked_customers", "customers_by_status"}
    page = Path(reports["html"]).read_text()
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())
    assert f"Publication of a held file decision approve by {reviewer}" in text
    assert f"comment {comment or '-'}" in text and held.run_id in text
    assert f"href='file://{held_tags['dq/report/html']}'" in page
    assert "rows in 100 · cleaned 85 · quarantined 15 · published 85 failure rate 15.00%" in text
    md = Path(reports["markdown"]).read_text()
    assert "## Publication of a held file" in md and f"**approve** by {reviewer}" in md
    for uri in ("html", "json", "markdown", "checks"):
        assert "not-an-email" not in Path(reports[uri]).read_text()  # quarantined values stay in quarantine


def held_source(project, outcome):
    from dq_platform.io import landing

    path = project.landing / "customers" / outcome.partition.split("@")[0]
    return landing.describe("customers", path)


def test_a_rejected_file_is_quarantined_whole_and_never_published(project, instance):
    held = held_file(project, instance)
    raw = project.wh().read("raw_customers", partition=held.partition)
    outcome = review(project, instance, held.partition, "reject", comment="supplier sent last month's extract")
    assert outcome.success and outcome.publish_run_id is None, outcome.error

    # nothing lost: every raw row is in quarantine now, the cleaned partition is empty, nothing published
    assert counts(project, held.partition) == {"raw": 100, "cleaned": 0, "quarantine": 100, "masked": 0}
    q = project.wh().read("quarantine_customers", partition=held.partition)
    assert sorted(q[rules.SOURCE_LINE]) == sorted(raw[rules.SOURCE_LINE])
    assert q[rules.FAILED_RULES].value_counts().to_dict() == {REJECTED_RULE: 85, "email:format": 15}
    moved = q[q[rules.FAILED_RULES] == REJECTED_RULE]
    assert (moved[rules.RUN_ID] == outcome.run_id).all()
    assert set(moved["email"]) <= set(raw["email"])  # raw values as received, for whoever investigates
    assert project.wh().last_commit("cleaned_customers", held.partition)["dq_gates"] == "rejected"
    decided = evaluations(instance, outcome.run_id)[f"cleaned_customers.{REVIEW_CHECK}"]
    assert meta(decided) == "rejected" and "supplier sent last month's extract" in decided.description

    # materializing masked by hand (UI) still publishes nothing, and says why
    result = project.materialize(instance, ["masked_customers"], partition=held.partition)
    assert result.success
    source = [e for e in result.get_asset_check_evaluations() if e.check_name == "masked_source_passed_gates"][0]
    assert not source.passed and meta(source) == "rejected" and "rejected in review" in source.description
    assert counts(project, held.partition)["masked"] == 0

    # a decided file cannot be decided again
    again = review(project, instance, held.partition, "approve")
    assert not again.success and "not awaiting review (gates: rejected)" in again.error


def test_decisions_the_platform_refuses(project, instance, make_project):
    held = held_file(project, instance)
    no_comment = review(project, instance, held.partition, "reject", comment="")
    assert not no_comment.success and "a rejection needs a comment" in no_comment.error
    good = project.ingest(instance, "customers", project.write_csv("customers/good.csv", customer_frame(30)))
    not_held = review(project, instance, good.partition, "approve")
    assert not not_held.success and "not awaiting review (gates: passed)" in not_held.error
    # a refused decision is the platform declining a request, not an incident: no CRITICAL page
    sensor = build_run_failure_alert_sensor(list(project.contracts.values()))
    with dg.build_sensor_context(instance=instance, cursor=None) as ctx:
        assert isinstance(sensor.evaluate_tick(ctx).skip_message, str)

    restricted = make_project(
        (CONTRACTS_DIR / "customers.yaml").read_text() + "review: {reviewers: [lead@example.com]}\n"
    )
    held2 = held_file(restricted, instance, name="held2", start=5000)
    outcome = review(restricted, instance, held2.partition, "approve", reviewer="intern@example.com")
    assert not outcome.success and "not a reviewer of customers" in outcome.error
    assert review(restricted, instance, held2.partition, "approve", reviewer="lead@example.com").published


@pytest.mark.parametrize("how", ["contract", "environment", "run_tag"])
def test_auto_approve_publishes_without_waiting_and_says_why(how, make_project, instance, monkeypatch):
    text = (CONTRACTS_DIR / "customers.yaml").read_text()
    project = make_project(text + ("review: {auto_approve: true}\n" if how == "contract" else ""))
    if how == "environment":
        monkeypatch.setenv("DQ_REVIEW_AUTO_APPROVE", "1")
    from dq_platform.defs.file_runs import run_file
    from dq_platform.defs.partitions import register

    source = register(
        instance,
        project.contracts["customers"],
        project.write_csv("customers/auto.csv", customer_frame(100, bad=15)),
        project.warehouse,
    )
    out = run_file(
        instance,
        project.contracts["customers"],
        source,
        contracts_dir=project.contracts_dir,
        warehouse_root=project.warehouse,
        extra_tags={AUTO_APPROVE_TAG: "true"} if how == "run_tag" else None,
    )
    assert out.success and not out.held and out.rows["masked"] == 85
    ev = evaluations(instance, out.run_id)[f"cleaned_customers.{REVIEW_CHECK}"]
    assert ev.passed and meta(ev) == "auto_approved"
    assert {"contract": "review.auto_approve", "environment": "DQ_REVIEW_AUTO_APPROVE", "run_tag": "--no-review"}[
        how
    ] in meta(ev, "auto_approved_because")
    assert held_partitions(instance, project.wh(), list(project.contracts.values())) == []


def test_the_ui_path_review_job_then_the_publisher_sensor(project, instance):
    """Launched from the launchpad (no tags, config only); the daemon's sensor requests the publication."""
    held = held_file(project, instance)
    job = project.defs.resolve_job_def("dq_review")
    config = {
        "dataset": "customers",
        "partition": held.partition,
        "decision": "approve",
        "reviewer": "bo",
        "comment": "",
    }
    result = job.execute_in_process(
        run_config={"ops": {"record_review_decision": {"config": config}}}, instance=instance
    )
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run.tags["dq/review/decision"] == "approve" and run.tags["dq/review/partition"] == held.partition

    sensor = next(s for s in project.defs.sensors if s.name == "dq_review_publisher")
    success = (
        instance.get_records_for_run(result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        .records[0]
        .event_log_entry.dagster_event
    )
    with dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=success
    ) as ctx:
        request = sensor(ctx)
    assert isinstance(request, dg.RunRequest)
    assert (request.job_name, request.partition_key, request.run_key) == (
        "customers_publish",
        held.partition,
        result.run_id,
    )
    publish = project.defs.resolve_job_def("customers_publish").execute_in_process(
        partition_key=held.partition, instance=instance, tags=request.tags
    )
    assert publish.success
    assert counts(project, held.partition)["masked"] == 85
    # launched by the daemon, the publish run gets its report from the run status sensor
    done = (
        instance.get_records_for_run(publish.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS)
        .records[0]
        .event_log_entry.dagster_event
    )
    with dg.build_run_status_sensor_context(
        sensor_name="dq_reports_after_success",
        dagster_instance=instance,
        dagster_event=done,
        dagster_run=instance.get_run_by_id(publish.run_id),
        resources={"warehouse": project.wh()},
    ) as ctx:
        reports_after_success(ctx)
    reports = {
        k.removeprefix("dq/report/"): v
        for k, v in instance.get_run_by_id(publish.run_id).tags.items()
        if k.startswith("dq/report/")
    }
    assert_publication_report(instance, publish.run_id, reports, held, result.run_id, "bo", "")
    # once published, the sensor does not publish the same approval again
    with dg.build_run_status_sensor_context(
        sensor_name=sensor.name, dagster_instance=instance, dagster_run=run, dagster_event=success
    ) as ctx:
        assert isinstance(sensor(ctx), dg.SkipReason)


def test_one_review_alert_per_held_file_and_the_decision_resolves_it(project, instance, http_receiver, monkeypatch):
    monkeypatch.setenv("DQ_SLACK_WEBHOOK_URL", f"{http_receiver.url}/slack")
    contracts = list(project.contracts.values())
    sensor = build_check_alert_sensor(
        contracts, project.defs.resolve_asset_graph().asset_check_keys, warehouse=project.wh()
    )
    tick = Ticker(sensor, instance)

    tick()
    held = held_file(project, instance)
    tick()
    (alert,) = http_receiver.bodies("/slack")  # not also "check warned" for the failure rate or masked
    assert alert["text"] == f"[MEDIUM] customers: review required for {held.partition}"
    text = json.dumps(alert)
    assert "dq-platform review approve|reject customers" in text
    assert held.reports["html"] in text  # the run's report is linked
    tick()
    assert len(http_receiver.bodies("/slack")) == 1  # no repeat

    review(project, instance, held.partition, "approve")
    tick()
    resolved = http_receiver.bodies("/slack")[1]
    assert resolved["text"] == f"[RESOLVED] customers: review decided for {held.partition}"
    assert "approved by ann@example.com" in json.dumps(resolved)


def test_cli_review_list_approve_and_reject(tmp_path, monkeypatch, capsys):
    """The commands a reviewer types, on the persistent instance of a project folder."""
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    landing = tmp_path / "landing" / "customers"
    landing.mkdir(parents=True)
    customer_frame(100, bad=15).to_csv(landing / "first.csv", index=False)
    customer_frame(100, start=500, bad=15).to_csv(landing / "second.csv", index=False)
    assert main(["ingest", str(landing)]) == 0
    out = capsys.readouterr().out
    assert out.count("HELD for human review") == 2
    assert main(["review", "list"]) == 0
    listing = capsys.readouterr().out
    assert "first.csv@" in listing and "second.csv@" in listing and listing.count("pending") == 2
    assert main(["review", "approve", "customers", "first.csv", "--reviewer", "ann", "--comment", "ok"]) == 0
    assert "approved" in capsys.readouterr().out
    assert main(["review", "reject", "customers", "second.csv", "--reviewer", "ann", "--comment", "stale"]) == 0
    assert "rejected" in capsys.readouterr().out
    assert main(["review", "list"]) == 0
    assert "no file is waiting for review" in capsys.readouterr().out
    assert main(["review", "list", "--all", "--format", "json"]) == 0
    (decided,) = json.loads(capsys.readouterr().out)  # the rejected file is no longer held at all
    assert decided["partition"].startswith("first.csv@") and decided["decision"]["decision"] == "approve"
    assert main(["audit", "--dataset", "customers", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 5  # two pipeline runs, two review decisions, one publication
    reported = [r for r in rows if r["report"]]  # the two pipeline runs and the publication
    assert len(reported) == 3 and all(r["report"].endswith(".html") for r in reported)
    pipeline = [r for r in reported if r["rows_in"]]
    assert len(pipeline) == 2
    (publication,) = [r for r in reported if r["rows_published"] and not r["rows_in"]]
    assert publication["source"].endswith("/first.csv") and publication["rows_published"] == 85
    assert main(["audit", "show", pipeline[0]["run_id"]]) == 0
    assert f"report     {pipeline[0]['report']}" in capsys.readouterr().out
    decision = next(r for r in rows if r["partition"] == "-" and r["status"] == "SUCCESS" and not r["rows_in"])
    assert main(["audit", "show", decision["run_id"]]) == 0
    assert "review     " in capsys.readouterr().out
