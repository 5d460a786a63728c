"""The distributed drill (issue #18): a real Dask scheduler and two workers on loopback run one
file's chunks; the workers' own records show both did; one worker killed mid-run, its chunks are
rerun on the other and the file is published once, with nothing stray left behind."""

from __future__ import annotations

import time

import pytest

from dq_platform_tests.crash import CliProject
from dq_platform_tests.test_chunk_crash import stray_files
from dq_platform_tests.test_crash_recovery import check_consistent

pytestmark = pytest.mark.slow


def cluster_project(tmp_path, cluster, chunk_mb: str) -> CliProject:
    project = CliProject(tmp_path / "project")
    project.env.update({"DQ_DASK_SCHEDULER": cluster.address, "DQ_CHUNK_MB": chunk_mb})
    return project


def by_worker(cluster, step: str) -> dict[str, int]:
    """Tasks of a step each live worker executed, from the worker's own log (keys: <step>-<i>-<call>)."""
    return {w: sum(k.startswith(step) for k in keys) for w, keys in cluster.tasks_ran().items()}


def drill(tmp_path, cluster, rows: int, chunk_mb: str) -> None:
    project = cluster_project(tmp_path, cluster, chunk_mb)
    first, second = project.files("customers", 2, rows=rows, seed=11)

    code, out = project.run("ingest", str(first), timeout=1800)
    assert code == 0, out[-3000:]
    assert "SUCCESS" in out, out[-3000:]
    for step in ("read_", "type_and_judge", "clean_and_split", "mask_and_scan"):
        ran = by_worker(cluster, step)
        assert ran.get("w1", 0) > 0 and ran.get("w2", 0) > 0, (step, ran)  # both workers took chunks

    # kill w2 once it is working on the second file's cleaned chunks
    before = by_worker(cluster, "type_and_judge").get("w2", 0)
    proc = project.start("ingest", str(second))
    deadline = time.monotonic() + 900
    while by_worker(cluster, "type_and_judge").get("w2", 0) == before:
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        assert time.monotonic() < deadline, "w2 never started on the second file"
        time.sleep(0.2)
    cluster.kill("w2")
    out, _ = proc.communicate(timeout=1800)
    assert proc.returncode == 0, out[-3000:]  # its chunks were rerun on w1
    assert "SUCCESS" in out, out[-3000:]
    assert by_worker(cluster, "clean_and_split").get("w1", 0) > 0
    check_consistent(project, partitions=2)
    assert stray_files(project) == []


def test_two_workers_share_a_file_and_survive_losing_one(tmp_path, dask_cluster):
    drill(tmp_path, dask_cluster, rows=60_000, chunk_mb="1")


@pytest.mark.long
def test_two_million_rows_on_two_workers_survive_losing_one(tmp_path, dask_cluster):
    drill(tmp_path, dask_cluster, rows=2_000_000, chunk_mb="24")
