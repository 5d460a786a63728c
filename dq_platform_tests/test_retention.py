"""`dq-platform audit prune`: dry run changes nothing; a real prune deletes only superseded runs.

Runs on one partition A: A1, then A2 (same file again: replaces A1's output), then A3 after the
cutoff (the file's content changed: fails before writing). B1 and C1 (a corrupt file) are the
only runs of their partitions. Only A1 may go: A2 is what the current Delta versions of A point
at, A3 is A's latest run and newer than the cutoff, B1 and C1 are their partitions' latest runs.
"""

from __future__ import annotations

import datetime as dt
import gzip
import time

import pytest

from dq_platform.cli import main
from dq_platform.contract import CONTRACTS_DIR
from dq_platform.defs.partitions import register
from dq_platform.ops.retention import plan_prune
from dq_platform_tests.conftest import REPO, Project, instance_env, open_instance
from dq_platform_tests.test_pipeline import customer_frame

pytestmark = pytest.mark.slow
TABLES = ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers", "customers_by_status")


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_prune_dry_run_changes_nothing_and_prune_deletes_only_superseded_runs(kind, tmp_path, pg_databases, capsys):
    env = instance_env(kind, pg_databases, "prune")
    instance = open_instance(tmp_path / "home", env)
    project = Project(tmp_path, CONTRACTS_DIR)
    contract = project.contracts["customers"]
    path_a = project.write_csv("customers/a.csv", customer_frame(20, bad=1))
    source_a = register(instance, contract, path_a, project.warehouse)
    a1 = project.run(instance, "customers", source_a)
    a2 = project.run(instance, "customers", source_a)
    b1 = project.ingest(instance, "customers", project.write_csv("customers/b.csv", customer_frame(15, start=50)))
    corrupt = project.landing / "customers" / "c.csv"
    corrupt.write_bytes(gzip.compress(b"x"))
    c1 = project.ingest(instance, "customers", corrupt)
    time.sleep(0.05)
    cutoff = dt.datetime.now(dt.UTC)
    time.sleep(0.05)
    project.write_csv("customers/a.csv", customer_frame(21))  # replaced after registration
    a3 = project.run(instance, "customers", source_a)
    assert [a1.success, a2.success, b1.success, c1.success, a3.success] == [True, True, True, False, False]

    plan = plan_prune(
        instance, older_than_days=0, warehouse_root=project.warehouse, contracts=project.contracts.values(), now=cutoff
    )
    assert [x.run_id for x in plan.delete] == [a1.run_id]
    reasons = {x.run_id: x.kept_because for x in plan.keep}
    assert set(reasons) == {a2.run_id, b1.run_id, c1.run_id}  # A3 is newer than the cutoff
    assert reasons[a2.run_id].startswith("current version of raw_customers[")
    assert reasons[b1.run_id] == f"latest run of customers_pipeline [{b1.partition}]"
    assert reasons[c1.run_id] == f"latest run of customers_pipeline [{c1.partition}]"

    def cli(*args):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DAGSTER_HOME", str(tmp_path / "home"))
            mp.setenv("DQ_PROJECT_DIR", str(REPO))
            mp.setenv("DQ_WAREHOUSE_URI", project.warehouse)
            for k, v in env.items():
                mp.setenv(k, v)
            capsys.readouterr()
            assert main(list(args)) == 0
            return capsys.readouterr().out

    versions = {t: project.wh().table(t).version() for t in TABLES}
    events_a1 = len(instance.get_records_for_run(a1.run_id).records)
    assert events_a1 > 10

    out = cli("audit", "prune", "--older-than", "0")  # dry run: cutoff now, so A3 is a candidate too
    assert [line.split()[:3] for line in out.splitlines() if a1.run_id in line] == [["would", "delete", a1.run_id]]
    assert "would delete 1, keeping 4" in out and "dry run: nothing was deleted" in out
    assert f"({reasons[a2.run_id]})" in out and f"latest run of customers_pipeline [{a3.partition}])" in out
    assert len(instance.get_run_ids()) == 5
    assert len(instance.get_records_for_run(a1.run_id).records) == events_a1

    out = cli("audit", "prune", "--older-than", "0", "--yes")
    assert "deleted 1 run(s) and their events" in out
    assert not instance.has_run(a1.run_id)
    assert instance.get_records_for_run(a1.run_id).records == []
    assert sorted(instance.get_run_ids()) == sorted([a2.run_id, a3.run_id, b1.run_id, c1.run_id])
    assert {t: project.wh().table(t).version() for t in TABLES} == versions  # tables untouched
    # the audit log still answers for the surviving runs
    out = cli("audit", "--format", "csv")
    assert out.count("\n") == 4 + 1 and a1.run_id not in out
    out = cli("audit", "prune", "--older-than", "0")
    assert "would delete 0, keeping 4" in out
    instance.dispose()
