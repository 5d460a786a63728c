"""A killed run mid-file (issue #18): every table keeps its previous version, readable; the re-run
publishes the file once and leaves no stray file behind (staged chunks, spills)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from deltalake import DeltaTable

from dq_platform.io.staging import STAGED_DIR, _current_paths
from dq_platform_tests.crash import CliProject
from dq_platform_tests.test_crash_recovery import check_consistent

pytestmark = pytest.mark.slow
TABLES = ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers")


def versions(project: CliProject) -> dict[str, int]:
    return {t: DeltaTable(str(Path(project.env["DQ_WAREHOUSE_URI"]) / t)).version() for t in TABLES}


def stray_files(project: CliProject) -> list[str]:
    """Staged files no version of their table ever committed, and scratch folders left behind."""
    root = Path(project.env["DQ_WAREHOUSE_URI"])
    out = [str(p) for p in (root / "_staging").glob("*")] if (root / "_staging").exists() else []
    for t in TABLES:
        dt = DeltaTable(str(root / t))
        committed_runs = {str(h.get("dagster_run_id", ""))[:8] for h in dt.history()}
        current = _current_paths(dt)
        for f in (root / t / STAGED_DIR).rglob("*.parquet"):
            rel = str(f.relative_to(root / t))
            if rel not in current and f.name[:8] not in committed_runs:
                out.append(rel)
    return out


@pytest.mark.parametrize(
    "point, who",
    [
        ("chunks:cleaned_customers:judged", "run"),  # the run's own process, between the cleaned rounds
        ("chunk:masked_customers:2", "worker"),  # a worker process, after staging a masked chunk
    ],
)
def test_kill_mid_file_keeps_previous_versions_and_rerun_publishes_once(tmp_path, point, who):
    project = CliProject(tmp_path)
    project.env["DQ_CHUNK_MB"] = "0.004"  # ~4 KB chunks: a 120-row file is many chunks
    project.env["DQ_WORKERS"] = "2"  # chunks run in worker processes
    done, victim = project.files("customers", 2, rows=120, seed=5)
    code, out = project.run("ingest", str(done))
    assert code == 0, out
    before = versions(project)

    code, out = project.run("ingest", str(victim), fault=point)
    after = versions(project)
    if who == "run":
        assert code == -signal.SIGKILL, out
        assert stray_files(project), "the kill should have left staged chunks behind"
    else:  # the run survives its worker: it fails cleanly, in one line, and removes what it staged
        assert code != 0 and "died mid-task" in out and "SIGKILL" in out, out
        assert stray_files(project) == []
    assert after["raw_customers"] == before["raw_customers"] + 1  # raw was published before the kill
    for t in ("cleaned_customers", "quarantine_customers", "masked_customers"):
        if point.startswith("chunk:masked") and t != "masked_customers":
            continue  # clean finished before the kill in masked
        assert after[t] == before[t], t
    wh = project.warehouse
    for t in TABLES:
        wh.read(t)  # every table readable at its current version

    code, out = project.run("ingest", str(victim))
    assert code == 0, out
    check_consistent(project, partitions=2)
    assert stray_files(project) == []
