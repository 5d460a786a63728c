"""Everything Dagster loads: one asset graph per contract, shared resources, global policy.

Adding a dataset is adding a YAML file to the contracts folder: nothing here names a dataset.
"""

from __future__ import annotations

import functools
import os
import warnings

import dagster as dg

from dq_platform import names, settings
from dq_platform.alerts.sensors import build_alert_sensors, deliveries_spec
from dq_platform.contract import load_contract_folder, model_catalog
from dq_platform.defs.batch import build_batch_job
from dq_platform.defs.broken import build_placeholder
from dq_platform.defs.dataset import DatasetDefs, build_dataset
from dq_platform.defs.extract import build_extract, is_pull_source
from dq_platform.defs.health import build_health
from dq_platform.defs.maintenance import build_maintenance
from dq_platform.defs.resources import platform_resources
from dq_platform.defs.review import build_partition_review_job, build_publisher_sensor, build_review_job
from dq_platform.defs.sensors import build_file_sensor
from dq_platform.defs.streams import build_stream_sensor, is_stream_source
from dq_platform.defs.versions import rollback_job
from dq_platform.io.instance_sqlite import tune_instance_sqlite
from dq_platform.io.warehouse import Warehouse
from dq_platform.reports.run_report import reports_after_failure, reports_after_success, reports_spec
from dq_platform.settings import contracts_dir


def build_definitions(
    contracts=None, warehouse_root: str | None = None, landing: str | None = None, broken: dict | None = None
) -> dg.Definitions:
    """`contracts`: default, every contract of the folder that loads; `broken` (dataset -> error)
    defaults to the ones that do not, each shown as a failing placeholder (defs/broken.py)."""
    if contracts is None:
        folder = load_contract_folder(contracts_dir())
        contracts, broken = folder.contracts, folder.broken if broken is None else broken
    resources = platform_resources(warehouse_root, landing)
    warehouse = resources["warehouse"]
    catalog = model_catalog(contracts)  # models by name: joins and fact references cross contracts
    datasets = [build_dataset(c, catalog) for c in contracts]
    # Platform health reads the run storage: its own asset, job and schedule, in no dataset's job.
    checks = {d.contract.name: d.check_keys for d in datasets}
    return dg.Definitions.merge(
        *(d.definitions() for d in datasets),
        build_health(checks),
        _landing(datasets, resources),
        _alerting(datasets, contracts, {k for keys in checks.values() for k in keys}, warehouse),
        dg.Definitions(
            assets=[reports_spec], jobs=[rollback_job], sensors=[reports_after_success, reports_after_failure]
        ),
        _review(datasets, contracts),
        *(dg.Definitions(jobs=[job], schedules=[schedule]) for job, schedule in map(build_maintenance, contracts)),
        # pull sources (http / sql contracts): <name>_extract job + schedule, source asset upstream of raw
        *(build_extract(c) for c in contracts if is_pull_source(c)),
        dg.Definitions(assets=[build_placeholder(name, err) for name, err in sorted((broken or {}).items())]),
        # Kafka streams: <name>_stream_sensor drains batches into the landing zone and starts the pipeline
        dg.Definitions(sensors=[build_stream_sensor(c) for c in contracts if is_stream_source(c)]),
    )


def _landing(datasets: list[DatasetDefs], resources: dict) -> dg.Definitions:
    """A landing sensor per dataset, and the batch job it starts when several files wait (defs/batch.py)."""
    batches = {d.contract.name: build_batch_job(d.contract) for d in datasets}
    sensors = [build_file_sensor(d.contract, d.pipeline_job, batches[d.contract.name]) for d in datasets]
    return dg.Definitions(jobs=list(batches.values()), sensors=sensors, resources=resources)


def _alerting(datasets: list[DatasetDefs], contracts, check_keys: set, warehouse: Warehouse) -> dg.Definitions:
    """Alert sensors, the delivery record asset, and the sensor that runs freshness checks when due."""
    sensors = build_alert_sensors(contracts, check_keys, warehouse)
    freshness = [c for d in datasets for c in d.freshness_checks]
    if freshness:
        with warnings.catch_warnings():  # "superseded" by FreshnessPolicy; see defs/checks.py
            warnings.simplefilter("ignore")
            sensors.append(
                dg.build_sensor_for_freshness_checks(
                    freshness_checks=freshness,
                    name=names.FRESHNESS_SENSOR,
                    default_status=dg.DefaultSensorStatus.RUNNING,
                )
            )
    return dg.Definitions(assets=[deliveries_spec], sensors=sensors)


def _review(datasets: list[DatasetDefs], contracts) -> dg.Definitions:
    """The review decision job, and the sensor that publishes what a reviewer approved."""
    publish = [d.publish_job for d in datasets if d.publish_job is not None]
    sensors = [build_publisher_sensor(contracts, publish)] if publish else []
    per_dataset = [build_partition_review_job(c) for c in contracts if c.failure_rate.review is not None]
    return dg.Definitions(jobs=[build_review_job(contracts), *per_dataset], sensors=sensors)


def pipeline_job(job_name: str, contracts_dir: str | None = None, warehouse_root: str | None = None):
    """Rebuild one job by name: the reconstructor `dg.execute_job` needs (CLI, demo, benchmark).

    Unlike `execute_in_process`, that path keeps no step outputs in memory, as in production.
    Dagster reconstructs the job several times per run; the definitions are built once per process
    and contracts folder state (a changed, added or removed contract file builds them anew). The
    module's own `defs`, built when this module was imported, serves when it was built from the same
    folder state, warehouse and settings (the usual case: a second build cost ~0.25 s per process).
    """
    state = _folder_state(contracts_dir) if contracts_dir else None
    if _build_key(contracts_dir, state, warehouse_root) == _DEFS_KEY:
        return defs.resolve_job_def(job_name)
    return _cached_definitions(contracts_dir, state, warehouse_root).resolve_job_def(job_name)


def _build_key(contracts_dir: str | None, state: tuple | None, warehouse_root: str | None) -> tuple:
    """What a build depends on: the contracts folder and its files' state, the warehouse, the settings
    (a resource reads some, e.g. the masking key, when it is built)."""
    folder = str(contracts_dir) if contracts_dir else None
    read = tuple(os.environ.get(name) for name in settings.VARIABLES if name != "DAGSTER_HOME")  # the instance's
    return folder, state, warehouse_root, read


def _folder_state(folder: str) -> tuple:
    from pathlib import Path

    path = Path(folder)
    files = [path] if path.is_file() else sorted(path.glob("*.y*ml"))
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


@functools.lru_cache(maxsize=8)
def _cached_definitions(contracts_dir: str | None, state: tuple | None, warehouse_root: str | None) -> dg.Definitions:
    if not contracts_dir:
        return build_definitions(None, warehouse_root)
    folder = load_contract_folder(contracts_dir)
    return build_definitions(folder.contracts, warehouse_root, broken=folder.broken)


tune_instance_sqlite()  # a run's process (CLI or launched by the daemon) writes its events through this
# the key pipeline_job sees for the same build: the CLI passes the default folder and warehouse explicitly
_DEFS_KEY = _build_key(str(contracts_dir()), _folder_state(str(contracts_dir())), settings.warehouse_uri())
defs = build_definitions()
