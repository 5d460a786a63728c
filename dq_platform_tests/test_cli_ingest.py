"""`dq-platform ingest`: the backfill path for files that were there before the sensor."""

from __future__ import annotations

import dagster as dg
import pytest

from dq_platform.cli import main
from dq_platform.contract import load_contracts
from dq_platform.demo.sample_data import write_files

pytestmark = pytest.mark.slow


def test_ingest_a_folder_then_skip_known_content_then_force(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DQ_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    customers = {c.name: c for c in load_contracts()}["customers"]
    files = write_files(customers, tmp_path / "landing", files=2, rows_per_file=30, seed=3)

    assert main(["ingest", str(tmp_path / "landing" / "customers")]) == 0
    out = capsys.readouterr().out
    assert out.count("SUCCESS") == 2 and files[0].name in out
    with dg.DagsterInstance.get() as instance:
        assert len(instance.get_dynamic_partitions("customers_files")) == 2
        assert len(instance.get_runs()) == 2

    copy = files[0].with_name("customers_copy.csv")
    copy.write_bytes(files[0].read_bytes())
    assert main(["ingest", str(copy)]) == 0
    assert "same content as partition" in capsys.readouterr().out

    assert main(["ingest", "--force", str(files[1])]) == 0
    assert "SUCCESS" in capsys.readouterr().out
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 3 and {r.tags["dq/trigger"] for r in runs} == {"cli"}
