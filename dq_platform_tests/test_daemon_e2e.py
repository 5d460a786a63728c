"""End to end as an engineer runs it: the Dagster daemon on a fresh instance, files dropped into
the landing folder, runs started by the sensor and executed by the daemon's run launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from dq_platform.contract import CONTRACTS_DIR, load_contracts
from dq_platform.demo.sample_data import generate
from dq_platform.io.warehouse import Warehouse
from dq_platform.settings import render_instance_config

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
# Daemon-launched runs start a process per step; the history checks added two steps per run, and the
# shared 2-core machine under load took ~2 min per run (two runs, one at a time, plus a freshness run).
TIMEOUT_S = 600


def test_dropped_files_flow_to_masked_through_the_daemon(tmp_path):
    home, landing, warehouse = tmp_path / "home", tmp_path / "landing", tmp_path / "warehouse"
    home.mkdir()
    (home / "dagster.yaml").write_text(render_instance_config(REPO / "dagster.yaml", env={}))  # embedded
    # the storage's tables created once, as `dq-platform ui` does before it starts anything: the daemon
    # and its code server creating a fresh SQLite schedule database at the same moment can both write
    # its alembic revision (Dagster then refuses to load: "more than one head present")
    dg.DagsterInstance.from_config(str(home)).dispose()
    # only the contract under test: every other shipped contract would add a sensor ticking every 2 s
    # (and pull sources a schedule) to the daemon's load without being part of this flow
    contracts = tmp_path / "contracts"
    contracts.mkdir()
    (contracts / "customers.yaml").write_text((CONTRACTS_DIR / "customers.yaml").read_text())
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DQ_LANDING_DIR": str(landing),
        "DQ_WAREHOUSE_URI": str(warehouse),
        "DQ_SENSOR_INTERVAL_SECONDS": "2",
        "DQ_MASKING_KEY": "e2e-test-masking-key-0123456789",
        "DQ_CONTRACTS_DIR": str(contracts),
    }
    env.pop("DQ_LANDING_URI", None)
    daemon_bin = Path(sys.executable).parent / "dagster-daemon"
    log = open(tmp_path / "daemon.log", "w")
    daemon = subprocess.Popen(
        [str(daemon_bin), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        customers = {c.name: c for c in load_contracts()}["customers"]
        folder = landing / "customers"
        folder.mkdir(parents=True)
        for i in (1, 2):
            frame = generate(customers, rows=40, seed=i, bad_fraction=0.05, id_offset=1000 * i).frame
            tmp = folder / f"drop_{i}.csv.tmp"  # written under a temporary name, then renamed
            frame.to_csv(tmp, index=False)
            tmp.rename(folder / f"drop_{i}.csv")

        with dg.DagsterInstance.from_config(str(home)) as instance:
            deadline = time.time() + TIMEOUT_S
            while time.time() < deadline:
                runs = instance.get_runs(filters=dg.RunsFilter(job_name="customers_pipeline"))
                failed = [r for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
                assert not failed, f"run failed: {failed[0].run_id}; see {tmp_path / 'daemon.log'}"
                done = [r for r in runs if r.status == dg.DagsterRunStatus.SUCCESS]
                if len(done) == 2:
                    break
                assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
                time.sleep(3)
            else:
                pytest.fail(
                    f"runs not done in {TIMEOUT_S}s: {[(r.run_id, r.status) for r in runs]}\n"
                    + (tmp_path / "daemon.log").read_text()[-3000:]
                )
            assert {r.tags["dq/trigger"] for r in done} == {"sensor"}
            sources = sorted(Path(r.tags["dq/source_uri"]).name for r in done)
            assert sources == ["drop_1.csv", "drop_2.csv"]
            # the audit log names who launched them, with the rows each layer received
            from dq_platform.ops.audit import list_runs

            audited = list_runs(instance, dataset="customers")
            assert {r.trigger for r in audited} == {"sensor:customers_landing_sensor"}
            files = [r for r in audited if r.partition != "-"]
            assert len(files) == 2
            assert all(r.status == "SUCCESS" and r.rows_in == 40 and r.rows_published for r in files)
            # files ready in the same tick share one batch run (defs/batch.py): one more row, no rows of its own
            batches = instance.get_runs(filters=dg.RunsFilter(job_name="customers_batch"))
            assert len(audited) == 2 + len(batches) and all(b.status == dg.DagsterRunStatus.SUCCESS for b in batches)
            assert {r.tags.get("dq/batch") for r in done} == ({batches[0].tags["dq/batch"]} if batches else {None})
        counts = Warehouse(root=str(warehouse)).row_counts("masked_customers")
        assert sorted(k.split("@")[0] for k in counts) == ["drop_1.csv", "drop_2.csv"]
        assert all(n > 0 for n in counts.values())
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
        log.close()
