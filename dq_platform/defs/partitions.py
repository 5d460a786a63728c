"""A source file as a dynamic partition: matched to its contract, registered, tagged on its run.

A file is matched to its contract by the contract's glob, archived, and registered as a dynamic
partition named after its name and content hash (`names.partitions(dataset)` holds them), so
"already processed?" is a look-up. The run carries the source URI, checksum and size as tags, so
run storage (the audit log) answers "which file produced this row?". Shared by the landing sensors,
the extract jobs, the CLI's ingest and the demo.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import dagster as dg

from dq_platform import names
from dq_platform.contract import Contract
from dq_platform.io import kafka, landing


def match_contract(
    path: str | Path, contracts: list[Contract], landing_root: str | Path | None = None
) -> Contract | None:
    """The contract whose source glob matches the file (relative to the landing zone, or its name)."""
    p = Path(path)
    candidates = [p.name]
    if landing_root is not None:
        try:
            candidates.insert(0, p.resolve().relative_to(Path(landing_root).resolve()).as_posix())
        except ValueError:
            pass
    candidates.append(f"{p.parent.name}/{p.name}")
    for c in contracts:
        pattern = c.source.pattern
        if any(fnmatch.fnmatch(cand, pattern) for cand in candidates):
            return c
        if fnmatch.fnmatch(p.name, pattern.rsplit("/", 1)[-1]) and "/" not in pattern:
            return c
    return None


def registered_content(instance: dg.DagsterInstance, contract: Contract) -> dict[str, str]:
    """sha256 prefix -> partition key of every file already registered for the dataset."""
    keys = instance.get_dynamic_partitions(names.partitions(contract.name))
    return {key.rsplit(landing.KEY_SEP, 1)[-1][: landing.KEY_HEX]: key for key in keys}


def register(
    instance: dg.DagsterInstance,
    contract: Contract,
    path: str | Path,
    warehouse_root: str,
    source: landing.SourceFile | None = None,
) -> landing.SourceFile:
    """Archive the file and add its partition (idempotent: same bytes, same partition).

    `source`: the file already described (hashed) by the caller, so it is not read twice.
    """
    source = source or landing.describe(contract.name, path)
    landing.archive(source, warehouse_root)
    name = names.partitions(contract.name)
    if not instance.has_dynamic_partition(name, source.partition_key):
        instance.add_dynamic_partitions(name, [source.partition_key])
    return source


def source_tags(source: landing.SourceFile) -> dict[str, str]:
    """The run's tags for its file; a Kafka batch file adds its topic, offsets and replay stamp."""
    tags = {
        names.SOURCE_URI_TAG: source.uri,
        names.CHECKSUM_TAG: source.sha256,
        names.SIZE_TAG: str(source.size),
        names.DATASET_TAG: source.dataset,
    }
    batch = kafka.parse_file_name(source.name)
    if batch is not None:
        tags[names.STREAM_TOPIC_TAG] = batch.topic
        tags[names.STREAM_OFFSETS_TAG] = batch.offsets_text()
        if batch.replay:
            tags[names.STREAM_REPLAY_TAG] = batch.replay
    return tags
