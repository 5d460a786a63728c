"""Many files, one run: the landing sensor hands several waiting files of a dataset to one run.

A run's fixed cost — a process, the imports, the definitions, Great Expectations' import — is paid
once for the batch. Each file still gets its own pipeline run, executed in turn in the batch run's
process by the path `dq-platform ingest` takes (file_runs.run_partition), with the tags the sensor
would have given it plus `dq/batch`: its own partition, gates, quarantine, audit record, alert and
report, exactly as a run of its own. A file whose gate fails holds only itself (its pipeline run
fails; the batch goes on). A file whose run dies, or that the batch never reached because the batch
process died, is left to the landing sensor, which retries it in a run of its own (run_state.py).
"""

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.execution import per_step_processes
from dq_platform.defs.file_runs import run_partition
from dq_platform.defs.run_state import file_state, step_verdict
from dq_platform.io.warehouse import Warehouse

FILE_SCHEMA = {
    "partition": str,
    "relpath": str,
    "size": int,
    "tags": dg.Field(dg.Permissive(), default_value={}, is_required=False),
}


def op_name(dataset: str) -> str:
    return f"process_{dataset}_files"


def batch_files(dataset: str, files: list[dict], contracts_dir: str | None = None) -> dict:
    """The batch job's run config for these files (each: partition, relpath, size, tags)."""
    config = {"files": files, **({"contracts_dir": contracts_dir} if contracts_dir else {})}
    return {"ops": {op_name(dataset): {"config": config}}}


def build_batch_job(contract: Contract) -> dg.JobDefinition:
    dataset = contract.name

    @dg.op(
        name=op_name(dataset),
        config_schema={
            "files": [FILE_SCHEMA],
            "contracts_dir": dg.Field(str, is_required=False, description="default: DQ_CONTRACTS_DIR"),
        },
        out=dg.Out(dg.Nothing),
    )
    def process_files(context: dg.OpExecutionContext, warehouse: Warehouse):
        files = context.op_config["files"]
        contracts_dir = context.op_config.get("contracts_dir") or str(settings.contracts_dir())
        # the sensor's tags travel to each file's run, so its audit row reads as if the sensor had
        # started it alone; dq/batch links it to this run
        inherited = {k: v for k, v in context.run.tags.items() if k in (names.SENSOR_TAG, names.BATCH_TAG)}
        rows, held, unfinished = [], 0, 0
        for item in files:
            key, relpath = item["partition"], item["relpath"]
            before = file_state(context.instance, dataset, key)
            if before.state in ("done", "running", "canceled"):  # another run took it meanwhile (the CLI, a retry)
                context.log.info(f"{relpath}: {key} already has run {before.run.run_id} ({before.state}); skipped")
                rows.append((relpath, key, before.run.run_id, f"skipped ({before.state})"))
                continue
            tags = {
                **item["tags"],
                **inherited,
                names.TRIGGER_TAG: context.run.tags.get(names.TRIGGER_TAG, "sensor"),
                names.ATTEMPT_TAG: str(before.attempts + 1),
            }
            try:
                out = run_partition(
                    context.instance,
                    contract,
                    key,
                    tags,
                    contracts_dir=contracts_dir,
                    warehouse_root=warehouse.root,
                    executor="multiprocess" if per_step_processes(item["size"]) else "in_process",
                )
            except Exception as e:  # noqa: BLE001 - the machinery failed for this file: the sensor retries it alone
                unfinished += 1
                context.log.error(f"{relpath}: {key} not processed ({type(e).__name__}); the sensor retries it")
                rows.append((relpath, key, "-", "not processed"))
                continue
            if out.success:
                verdict = "published"
            elif step_verdict(context.instance, out.run_id):  # failed on the data, not a crash
                held += 1
                verdict = f"held: {out.failed_gates[0]}" if out.failed_gates else "failed"
            else:
                unfinished += 1
                verdict = "did not finish (the sensor retries it)"
            context.log.info(f"{relpath}: {key} run {out.run_id} {verdict}")
            rows.append((relpath, key, out.run_id, verdict))
        table = "\n".join(["| file | partition | run | outcome |", "|---|---|---|---|"])
        table += "".join(f"\n| {f} | {k} | {r} | {v.replace('|', '/')} |" for f, k, r, v in rows)
        return dg.Output(
            None,
            metadata={
                "files": len(files),
                "published": sum(1 for row in rows if row[3] == "published"),
                "held_or_failed": held,
                "unfinished": unfinished,
                "runs": dg.MetadataValue.md(table),
            },
        )

    @dg.job(
        name=names.batch_job(dataset),
        tags={names.KIND_TAG: names.BATCH_KIND, names.DATASET_TAG: dataset},
        executor_def=dg.in_process_executor,  # the files' runs execute here: no second process to start
        description=f"Several waiting {dataset} files in one process: each file gets its own {dataset}_pipeline run.",
    )
    def batch_job():
        process_files()

    return batch_job
