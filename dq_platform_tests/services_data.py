"""A small demo-like project for the API and dashboard tests, built once per test module.

Four contracts (customers, sales_transactions, crypto_markets and the ERP orders with their two
dimensions) get sample files through the real pipeline into a persistent instance and a local
warehouse, so a uvicorn or Streamlit process started by a test reads the same run storage.
customers also gets a file held for review and a bad batch held by its gate, and two canary
values: one in a PII column of a good row (masked before anything is published) and one in a row
that is quarantined. No answer of the API and no dashboard page may ever contain either.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from dq_platform.contract import CONTRACTS_DIR, load_contracts

CONTRACTS = ("customers", "sales_transactions", "crypto_markets", "erp_products", "erp_customers", "erp_orders")
CANARY = "zqcanary"  # lower case: searched case-insensitively
MASKED_CANARY = f"{CANARY}.masked@example.com"  # a valid email: the row is published, masked
QUARANTINED_CANARY = f"Quarantined{CANARY.title()}"  # a first name in a row whose email is invalid


@dataclass
class ServicesProject:
    root: Path
    home: Path
    warehouse: str
    contracts_dir: Path
    instance: dg.DagsterInstance
    outcomes: list = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """The settings a service process started by a test needs to read this project."""
        return {
            "DQ_PROJECT_DIR": str(self.root),
            "DAGSTER_HOME": str(self.home),
            "DQ_WAREHOUSE_URI": self.warehouse,
            "DQ_CONTRACTS_DIR": str(self.contracts_dir),
            "DQ_MASKING_KEY": TEST_KEY,
        }

    def sources(self):
        from dq_platform.io.warehouse import Warehouse
        from dq_platform.services.sources import Sources

        contracts = {c.name: c for c in load_contracts(self.contracts_dir)}
        return Sources(instance=self.instance, warehouse=Warehouse(root=self.warehouse), contracts=contracts)


TEST_KEY = "test-masking-key-0123456789abcdef"


def free_port() -> int:
    """A free port on loopback in 34000-34999 (this project's range for test services)."""
    import random
    import socket

    for port in random.sample(range(34000, 35000), 1000):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 34000-34999")


def _customers_with_canaries(contract, rows: int, seed: int):
    from dq_platform.demo.sample_data import generate

    frame = generate(contract, rows=rows, seed=seed, bad_fraction=0.0, id_offset=5000).frame
    frame.loc[frame.index[0], "email"] = MASKED_CANARY
    frame.loc[frame.index[1], "first_name"] = QUARANTINED_CANARY
    frame.loc[frame.index[1], "email"] = f"not-an-email-{CANARY}"
    return frame


def build(root: Path) -> ServicesProject:
    """Run the small demo into `root` (a few seconds per file) and return where it is."""
    from dq_platform.defs.file_runs import run_file
    from dq_platform.defs.partitions import register
    from dq_platform.demo.sample_data import generate, write_files

    contracts_dir = root / "contracts"
    contracts_dir.mkdir(parents=True)
    for name in CONTRACTS:
        shutil.copy(CONTRACTS_DIR / f"{name}.yaml", contracts_dir / f"{name}.yaml")
    contracts = {c.name: c for c in load_contracts(contracts_dir)}
    home, warehouse, landing = root / ".dagster_home", str(root / "warehouse"), root / "landing"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    project = ServicesProject(root, home, warehouse, contracts_dir, dg.DagsterInstance.local_temp(str(home)))
    with pytest.MonkeyPatch.context() as mp:
        for k, v in project.env().items():
            mp.setenv(k, v)
        mp.setenv("DQ_LOG_LEVEL", "CRITICAL")
        mp.delenv("DQ_ALLOW_DEV_MASKING_KEY", raising=False)
        files: list[tuple[str, Path]] = []
        for i, name in enumerate(CONTRACTS):  # dimensions before the orders that join them
            files += [(name, p) for p in write_files(contracts[name], landing, files=1, rows_per_file=60, seed=i)]
        c = contracts["customers"]
        folder = files[0][1].parent
        canary = folder / "customers_canary.csv"
        _customers_with_canaries(c, 40, seed=77).to_csv(canary, index=False)
        review = folder / "customers_review.csv"  # between review (10%) and error (25%): held
        generate(c, rows=60, seed=88, bad_fraction=0.17, id_offset=9000).frame.to_csv(review, index=False)
        held = folder / "customers_bad.csv"  # above error: held by the gate
        generate(c, rows=60, seed=99, bad_fraction=0.6, id_offset=12000).frame.to_csv(held, index=False)
        files += [("customers", canary), ("customers", review), ("customers", held)]
        for name, path in files:
            source = register(project.instance, contracts[name], path, warehouse)
            project.outcomes.append(
                run_file(
                    project.instance,
                    contracts[name],
                    source,
                    contracts_dir=contracts_dir,
                    warehouse_root=warehouse,
                    extra_tags={"dq/trigger": "test"},
                )
            )
    return project
