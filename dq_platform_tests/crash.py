"""A project on disk driven by real `dq-platform` processes, for the crash and concurrency tests.

Each ingest is its own interpreter, as an operator runs it; a fault point (dq_platform/faults.py)
can kill it (SIGKILL) or pause it at a named place of its run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from dq_platform.contract import CONTRACTS_DIR, load_contracts
from dq_platform.demo.sample_data import write_files
from dq_platform.io.warehouse import Warehouse

BIN = Path(sys.executable).parent / "dq-platform"


class CliProject:
    def __init__(self, root: Path, datasets=("customers",)):
        self.root = root
        self.contracts_dir = root / "contracts"
        self.contracts_dir.mkdir(parents=True, exist_ok=True)
        for name in datasets:
            (self.contracts_dir / f"{name}.yaml").write_text((CONTRACTS_DIR / f"{name}.yaml").read_text())
        self.contracts = {c.name: c for c in load_contracts(self.contracts_dir)}
        self.landing = root / "landing"
        self.faults = root / "faults"
        self.faults.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "DQ_PROJECT_DIR": str(root),
            "DAGSTER_HOME": str(root / "home"),
            "DQ_WAREHOUSE_URI": str(root / "warehouse"),
            "DQ_LANDING_DIR": str(self.landing),
            "DQ_CONTRACTS_DIR": str(self.contracts_dir),
            "DQ_MASKING_KEY": os.environ.get("DQ_MASKING_KEY") or "crash-test-masking-key-0123456789",
            "DQ_FAULT_DIR": str(self.faults),
        }
        for var in ("DQ_LANDING_URI", "DQ_FAULT_AT", "DQ_FAULT_ACTION", "DAGSTER_PG_URL", "DAGSTER_PG_HOST"):
            self.env.pop(var, None)

    @property
    def warehouse(self) -> Warehouse:
        return Warehouse(root=self.env["DQ_WAREHOUSE_URI"])

    def files(self, dataset: str, n: int, rows: int, seed: int) -> list[Path]:
        return write_files(self.contracts[dataset], self.landing, files=n, rows_per_file=rows, seed=seed)

    def start(self, *args: str, fault: str | None = None, action: str = "kill") -> subprocess.Popen:
        env = dict(self.env)
        if fault:
            env.update({"DQ_FAULT_AT": fault, "DQ_FAULT_ACTION": action})
        return subprocess.Popen(
            [str(BIN), *args], env=env, cwd=self.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def run(self, *args: str, fault: str | None = None, action: str = "kill", timeout: float = 600):
        """(exit code, output) of one `dq-platform` command."""
        p = self.start(*args, fault=fault, action=action)
        out, _ = p.communicate(timeout=timeout)
        return p.returncode, out

    def wait_reached(self, point: str, proc: subprocess.Popen, timeout: float = 600) -> None:
        marker = self.faults / f"{point.replace(':', '_')}.reached"
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if proc.poll() is not None:
                raise AssertionError(f"process ended before {point}: {proc.stdout.read()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{point} not reached in {timeout}s")
            time.sleep(0.1)

    def release(self, point: str) -> None:
        (self.faults / f"{point.replace(':', '_')}.release").write_text("go")

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])


def gold_matches_masked(wh: Warehouse, contract) -> list[str]:
    """Every gold aggregation equals its recomputation from masked as it is now ([] when all do)."""
    from dq_platform.engine.aggregation import aggregate, read_columns, source_table

    problems = []
    for agg in contract.aggregations:
        if agg.join:
            continue
        table = f"{contract.name}_{agg.name}"
        expected = aggregate(wh.read(source_table(contract, agg), columns=read_columns(contract, agg)), agg, None, {})
        actual = wh.read(table)
        keys = [c for c in expected.columns if c in agg.group_by or c == "period"]
        e = expected.sort_values(keys).reset_index(drop=True).astype(str)
        a = actual[list(expected.columns)].sort_values(keys).reset_index(drop=True).astype(str)
        if not e.equals(a):
            metric = agg.metrics[0].name
            problems.append(
                f"{table}: {metric} sums to {actual[metric].sum()} but masked gives {expected[metric].sum()}"
            )
    return problems
