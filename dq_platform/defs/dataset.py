"""Where a contract becomes assets: one contract in, one governed asset graph out.

raw_<name> (bronze, one partition per source file)                                      raw.py
  -> cleaned_<name> + quarantine_<name> (silver; gates: failure rate, pandera, GX,        clean.py
     reconciliation, declared statistics; human review above failure_rate.review)
  -> masked_<name> (silver, GDPR-safe; gates: source passed its gates, no PII in output)  masked.py
  -> <name>_<aggregation> (gold, over every published masked partition)                   gold.py
     + the model / semantic layer (models.py), anomalies (anomalies.py), PostgreSQL (postgres.py)

Dagster writes an asset before separate checks run, so the gates that protect publication are
evaluated inside the publishing step (write-audit-publish): masked and gold yield their output
only when their gates pass, so a failure leaves the last good version in place. The gate
outcome of cleaned is stamped into its Delta commit, so a later masked run (e.g. from the UI)
refuses a partition whose gates failed.
"""

from dataclasses import dataclass, field

import dagster as dg

from dq_platform import names
from dq_platform.contract import Contract, model_catalog
from dq_platform.defs.checks import freshness_checks, stored_checks
from dq_platform.defs.clean import build_clean
from dq_platform.defs.execution import FILE_EXECUTOR
from dq_platform.defs.gold import build_gold
from dq_platform.defs.history_checks import build_history_checks
from dq_platform.defs.layers import Layers
from dq_platform.defs.masked import build_masked
from dq_platform.defs.models import modeling_assets
from dq_platform.defs.raw import build_raw


@dataclass
class DatasetDefs:
    """What one contract contributes to the code location, by role (definitions.py composes these)."""

    contract: Contract
    assets: list[dg.AssetsDefinition]
    checks: list[dg.AssetChecksDefinition]
    freshness_checks: list[dg.AssetChecksDefinition]
    pipeline_job: object  # dg.define_asset_job's result (resolved by Definitions)
    publish_job: object | None = None  # only with a review threshold
    jobs: list = field(default_factory=list)  # every job of the dataset, the two above included
    schedules: list[dg.ScheduleDefinition] = field(default_factory=list)

    @property
    def check_keys(self) -> list[dg.AssetCheckKey]:
        """Every check of the dataset, inside its assets or on its own."""
        return sorted({k for a in [*self.assets, *self.checks, *self.freshness_checks] for k in a.check_keys}, key=str)

    def definitions(self) -> dg.Definitions:
        return dg.Definitions(
            assets=self.assets,
            asset_checks=[*self.checks, *self.freshness_checks],
            jobs=self.jobs,
            schedules=self.schedules,
        )


def build_dataset(contract: Contract, catalog: dict | None = None) -> DatasetDefs:
    """Assets, checks and the per-dataset jobs for one contract.

    `catalog`: every contract's model by name (engine.modeling.model_catalog), for joins and references.
    """
    catalog = catalog if catalog is not None else model_catalog([contract])
    layers = Layers(contract)
    raw = build_raw(layers)
    gold_assets = [build_gold(layers, agg, catalog) for agg in contract.aggregations]
    # dimension/fact table and semantic layer, when the contract declares them (models.py)
    gold_assets += modeling_assets(contract, layers.masked, layers.common, catalog)
    if contract.anomalies:  # <name>_anomalies: rule-based anomalies over the published events
        from dq_platform.defs.anomalies import build_anomaly_asset

        gold_assets.append(build_anomaly_asset(contract, layers.masked, layers.common))
    if contract.publish and contract.publish.postgres:  # <name>_postgres: masked rows (+ anomalies) to PostgreSQL
        from dq_platform.defs.postgres import build_postgres_asset

        gold_assets.append(build_postgres_asset(contract, layers.masked, layers.common))
    assets = [raw, build_clean(layers), build_masked(layers), *gold_assets]

    history = build_history_checks(contract, layers.raw, layers.cleaned)  # anomaly detection: own check steps
    checks = stored_checks(layers, raw) + history.checks
    pipeline = dg.define_asset_job(
        names.pipeline_job(contract.name),
        selection=dg.AssetSelection.assets(*assets) | dg.AssetSelection.checks(*history.checks),
        partitions_def=layers.partitions,
        tags={names.DATASET_TAG: contract.name},
        executor_def=FILE_EXECUTOR,
        description=f"raw -> cleaned + quarantine -> masked -> gold for one {contract.name} source file (partition).",
    )
    publish = None
    if contract.failure_rate.review is not None:  # what an approval runs: masked and what depends on it
        publish = dg.define_asset_job(
            names.publish_job(contract.name),
            partitions_def=layers.partitions,
            tags={names.DATASET_TAG: contract.name, names.KIND_TAG: names.PUBLISH_KIND},
            selection=dg.AssetSelection.assets(layers.masked).downstream() & dg.AssetSelection.assets(*assets),
            executor_def=FILE_EXECUTOR,
            description=f"Publish one reviewed {contract.name} file: masked + gold for a partition a reviewer approved.",
        )
    return DatasetDefs(
        contract=contract,
        assets=assets,
        checks=checks,
        freshness_checks=freshness_checks(contract, layers.masked),
        pipeline_job=pipeline,
        publish_job=publish,
        jobs=[pipeline, *([publish] if publish else []), *history.jobs],
        schedules=history.schedules,
    )
