"""Everything Dagster loads: one asset graph per contract, shared resources, global policy.

Adding a dataset is adding a YAML file to the contracts folder: nothing here names a dataset.
"""

from __future__ import annotations

import dagster as dg

from .assets import build_dataset
from .contract import load_contracts
from .maintenance import build_maintenance
from .reports import reports_after_failure, reports_after_success
from .sensors import LandingZoneResource, build_file_sensor
from .settings import contracts_dir, landing_uri, warehouse_uri
from .storage import DeltaIOManager, Warehouse
from .versions import rollback_job


def build_definitions(contracts=None, warehouse_root: str | None = None, landing: str | None = None) -> dg.Definitions:
    contracts = load_contracts(contracts_dir()) if contracts is None else contracts
    warehouse = Warehouse(root=warehouse_root or warehouse_uri())
    per_dataset = [build_dataset(c) for c in contracts]
    # Resources per environment, in one place: local folders by default, s3:// URIs in production.
    resources = {
        "warehouse": warehouse,
        "io_manager": DeltaIOManager(warehouse=warehouse),
        "landing": LandingZoneResource(uri=landing or landing_uri()),
    }
    return dg.Definitions.merge(
        *per_dataset,
        dg.Definitions(sensors=[build_file_sensor(c) for c in contracts], resources=resources),
        dg.Definitions(jobs=[rollback_job], sensors=[reports_after_success, reports_after_failure]),
        *(dg.Definitions(jobs=[job], schedules=[schedule]) for job, schedule in map(build_maintenance, contracts)),
    )


def pipeline_job(job_name: str, contracts_dir: str | None = None, warehouse_root: str | None = None):
    """Rebuild one job by name: the reconstructor `dg.execute_job` needs (CLI, demo, benchmark).

    Unlike `execute_in_process`, that path keeps no step outputs in memory, as in production.
    """
    contracts = load_contracts(contracts_dir) if contracts_dir else None
    return build_definitions(contracts, warehouse_root).resolve_job_def(job_name)


defs = build_definitions()
