"""Stream sensors: per contract with `source.stream.kafka`, drain a micro-batch and start the file pipeline.

Each tick drains one bounded batch (io/kafka.py: max_records / max_seconds), lands it as one file
under the contract's pattern, commits the group's offsets, and requests `<name>_pipeline` for that
file's partition, exactly as the landing sensor would (partition key = name + content hash, so the
landing sensor, which also sees the file, finds it registered and leaves it). The run's tags carry the
batch's topic and offset ranges (defs/partitions.py `source_tags`), so `dq-platform audit` shows them.

A tick that crashes after landing leaves a file the landing sensor still runs (its name says its
offsets), and the next drain starts after it: nothing is read twice into the tables. Without
brokers configured, the sensor skips with the variable to set, so the shipped event contracts run
from files by default.
"""

import dagster as dg

from dq_platform import names, settings
from dq_platform.contract import Contract
from dq_platform.defs.execution import execution_config
from dq_platform.defs.layers import partitions_def
from dq_platform.defs.partitions import registered_content, source_tags
from dq_platform.defs.resources import LandingZoneResource
from dq_platform.io import kafka
from dq_platform.io.landing import SourceFile


def is_stream_source(contract: Contract) -> bool:
    return contract.source.stream is not None


def stream_interval_seconds() -> int:
    return settings.number("DQ_STREAM_SENSOR_INTERVAL_SECONDS", int)


def drain_request(contract: Contract, zone, instance: dg.DagsterInstance, *, on_landed=None):
    """Drain one batch; (RunRequest or None, partition key or None, a note for the tick's log)."""
    stream = contract.source.stream.kafka
    drained = kafka.drain(stream, zone, contract.source.pattern, contract.name, on_landed=on_landed)
    recovered = (
        f"; group caught up to the landed files on partitions {sorted(drained.recovered)}" if drained.recovered else ""
    )
    if drained.batch is None:
        return None, None, f"topic '{stream.topic}': no new records{recovered}"
    f = next(x for x in zone.list(drained.relpath) if x.relpath == drained.relpath)
    source = SourceFile(
        dataset=contract.name,
        name=drained.relpath.rsplit("/", 1)[-1],
        sha256=zone.sha256(f),
        size=f.size,
        uri=drained.uri,
    )
    note = (
        f"topic '{stream.topic}': landed {drained.batch.records} records ({drained.batch.offsets_text()}) "
        f"as {drained.relpath} in {drained.seconds:.2f} s{recovered}"
    )
    if source.sha256[:16] in registered_content(instance, contract):
        return None, None, note + "; already registered (a re-delivered batch): not processed again"
    key = source.partition_key
    request = dg.RunRequest(
        run_key=key,
        partition_key=key,
        run_config=execution_config(f.size),
        tags={**source_tags(source), names.TRIGGER_TAG: "stream"},
    )
    return request, key, note


def build_stream_sensor(contract: Contract) -> dg.SensorDefinition:
    stream = contract.source.stream.kafka
    parts = partitions_def(contract.name)

    @dg.sensor(
        name=names.stream_sensor(contract.name),
        job_name=names.pipeline_job(contract.name),
        minimum_interval_seconds=stream_interval_seconds(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Drains Kafka topic '{stream.topic}' in batches of at most {stream.max_records} records / "
        f"{stream.max_seconds:g} s into '{contract.source.pattern}', commits the offsets, and starts "
        f"{names.pipeline_job(contract.name)} for each batch file.",
    )
    def stream_sensor(context: dg.SensorEvaluationContext, landing: LandingZoneResource):
        if not kafka.bootstrap_servers(stream):
            variable = stream.bootstrap_servers_env or "DQ_KAFKA_BOOTSTRAP_SERVERS"
            return dg.SkipReason(f"{variable} is not set: set it to the brokers' host:port to drain '{stream.topic}'")
        request, key, note = drain_request(contract, landing.zone(), context.instance)
        context.log.info(note)
        if request is None:
            return dg.SkipReason(note)
        return dg.SensorResult(run_requests=[request], dynamic_partitions_requests=[parts.build_add_request([key])])

    return stream_sensor
