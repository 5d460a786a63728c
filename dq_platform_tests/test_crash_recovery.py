"""Finding 5 of issue 17: a file whose run was killed is finished, not counted as processed.

A real `dq-platform ingest` process is SIGKILLed at a stage boundary, inside a Delta write or
right after a commit (dq_platform/faults.py). The same command then, without --force, says the
file's run did not finish and processes it again: every table consistent (raw = cleaned +
quarantine, one copy of each partition), gold = masked, the checks recorded, the dead run FAILED.
"""

from __future__ import annotations

import signal

import dagster as dg
import pytest

from dq_platform_tests.crash import CliProject, gold_matches_masked

FAST = [
    "write:cleaned_customers:begin",  # raw committed, clean not started (the drill's kill during clean)
    "write:masked_customers:inside",  # every masked row handed to Delta, nothing committed
    "write:masked_customers:committed",  # masked committed; its checks and gold not yet (the drill's case)
    "write:customers_by_age_band:inside",  # inside a gold write
]
EVERY = [
    f"write:{table}:{where}"
    for table in ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers")
    + tuple(f"customers_{a}" for a in ("by_status", "by_age_band", "by_city"))
    for where in ("begin", "inside", "committed")
]


def check_consistent(project: CliProject, partitions: int) -> None:
    wh = project.warehouse
    raw, cleaned, quarantine = (wh.row_counts(f"{t}_customers") for t in ("raw", "cleaned", "quarantine"))
    assert len(raw) == partitions and set(raw) == set(cleaned) | set(quarantine)
    for key, n in raw.items():
        assert n == cleaned.get(key, 0) + quarantine.get(key, 0), key
    masked = wh.read("masked_customers")
    assert masked.duplicated(["_partition", "_source_line"]).sum() == 0
    assert set(masked["_partition"]) == set(cleaned)
    assert gold_matches_masked(wh, project.contracts["customers"]) == []


def killed_then_finished(tmp_path, point: str) -> None:
    project = CliProject(tmp_path)
    done, victim = project.files("customers", 2, rows=50, seed=31)
    code, out = project.run("ingest", str(done))
    assert code == 0, out
    code, out = project.run("ingest", str(victim), fault=point)
    assert code == -signal.SIGKILL, out

    code, out = project.run("ingest", str(victim))  # no --force
    assert code == 0, out
    assert "did not finish" in out and "processing it again" in out and "SUCCESS" in out, out
    check_consistent(project, partitions=2)
    with project.instance() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(tags={"dq/source_uri": victim.as_uri()}))
        runs = runs or [r for r in instance.get_runs() if r.tags.get("dq/source_uri", "").endswith(victim.name)]
        statuses = sorted(r.status.value for r in runs)
        assert statuses == ["FAILURE", "SUCCESS"], statuses  # the killed run is not left STARTED
        latest = max(runs, key=lambda r: instance.get_run_record_by_id(r.run_id).create_timestamp)
        checked = {
            r.event_log_entry.dagster_event.event_specific_data.check_name
            for r in instance.get_records_for_run(
                latest.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
            ).records
        }
        assert {"masked_source_passed_gates", "masked_has_no_pii", "gold_has_no_pii"} <= checked
    # a third ingest: processed, nothing to do
    code, out = project.run("ingest", str(victim))
    assert code == 0 and "already processed" in out, out


@pytest.mark.parametrize("point", FAST)
def test_killed_ingest_is_finished_by_the_next_ingest(tmp_path, point):
    killed_then_finished(tmp_path, point)


@pytest.mark.slow
@pytest.mark.parametrize("point", [p for p in EVERY if p not in FAST])
def test_killed_ingest_is_finished_by_the_next_ingest_at_every_point(tmp_path, point):
    killed_then_finished(tmp_path, point)
