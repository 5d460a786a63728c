"""`raw_<name>`, bronze: the rows of each source file exactly as received (text), one partition per file.

The run's source tags name the landing file; it is archived (content-addressed) before it is read,
so every partition can be re-run later from the archive, even after the landing file changed.
"""

import json
import time

import dagster as dg

from dq_platform import names
from dq_platform.chunks.passes import raw_pass
from dq_platform.chunks.pool import where
from dq_platform.defs.layers import WARN, Layers, profile_metadata, table_schema
from dq_platform.defs.publish import prepare, publish
from dq_platform.engine.pii.undeclared import undeclared_findings
from dq_platform.io import landing
from dq_platform.io.warehouse import Warehouse


def build_raw(layers: Layers) -> dg.AssetsDefinition:
    contract, name = layers.contract, layers.name

    @dg.asset(
        key=layers.raw,
        partitions_def=layers.partitions,
        kinds={"delta", "pandas", contract.source.format},
        # a pull source's API/table is an external asset upstream of raw (extract.py), for lineage
        deps=[dg.AssetKey(names.source(name))] if contract.source.kind != "file" else None,
        description=f"Bronze: rows of each {name} source file exactly as received (text), with "
        f"source file, line and sha256. {contract.description}",
        metadata={"dagster/column_schema": table_schema(contract, raw=True), "dq/contract": name},
        check_specs=[
            dg.AssetCheckSpec(
                names.RAW_UNDECLARED_PII_CHECK,
                asset=layers.raw,
                description="No column without a `pii:` declaration looks like PII (email, phone, SSN, card, "
                "IBAN, IP) in 1% or more of its values; a hit names the column, the kind, the share and "
                "the contract line that would mask it, before the masked gate refuses to publish it.",
            )
        ],
        **layers.common,
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse):
        key = context.partition_key
        file_name, sha16 = landing.split_partition_key(key)
        tagged = context.run.tags.get(names.SOURCE_URI_TAG)
        if tagged:
            source = landing.describe(name, tagged)
            if not source.sha256.startswith(sha16):
                raise landing.SourceFileError(
                    f"{tagged}: content changed since it was registered as partition '{key}' "
                    f"(sha256 now starts {source.sha256[:16]}); register the new content as its own partition"
                )
            uri = landing.archive(source, warehouse.root)
        else:
            uri = landing.find_archived(warehouse.root, name, key)
        table = layers.raw.path[-1]
        scratch = prepare(context, warehouse, [table], key)
        del scratch  # raw needs no scratch space: chunks are read straight from the archive
        t0 = time.perf_counter()
        # the archive is content-addressed: its folder name is the file's sha256
        checksum = uri.rsplit("/", 2)[-2]
        read = raw_pass(
            uri,
            contract,
            name=file_name,
            checksum=checksum,
            table=warehouse.table_uri(table),
            partition=key,
            run_id=context.run_id,
        )
        read_s = time.perf_counter() - t0
        profile = read.profile
        parse_errors = read.parse_errors
        missing = [c.name for c in contract.columns if c.name not in read.columns]
        extra = [c for c in read.columns if c not in {x.name for x in contract.columns}]
        if parse_errors:
            context.log.warning(f"{file_name}: {parse_errors} line(s) could not be parsed; they go to quarantine")
        if missing or extra:
            context.log.warning(f"{file_name}: missing columns {missing or '-'}; extra columns {extra or '-'}")
        written = publish(
            context, warehouse, table, read.staged, read.schema, key, {"dq_columns": json.dumps(read.columns)}
        )
        yield dg.MaterializeResult(
            metadata={
                "source_file": file_name,
                "source_uri": tagged or uri,
                "archived_uri": uri,
                "sha256": checksum if read.rows else "",
                "rows_in": read.rows,
                "parse_errors": parse_errors,
                "missing_columns": ", ".join(missing) or "-",
                "extra_columns": ", ".join(extra) or "-",
                "seconds/read": round(read_s, 4),
                "execution": f"{read.chunks} chunk(s), {where()}",
                **profile_metadata(profile),
                **written,
            },
        )
        yield undeclared_pii_check(profile)

    return raw


def undeclared_pii_check(profile) -> dg.AssetCheckResult:
    """WARN when a column without `pii:` looks like PII: kinds, shares and the line to add, never a value."""
    found = undeclared_findings(profile)
    return dg.AssetCheckResult(
        check_name=names.RAW_UNDECLARED_PII_CHECK,
        passed=not found,
        severity=WARN,
        description="; ".join(
            f"column '{f['column']}' is not declared PII but {f['share']:.0%} of its values hold a {f['kind']} "
            f"(declare it: {f['suggested']})"
            for f in found
        )
        or f"no undeclared PII in {len(profile.columns)} column(s)",
        metadata={"undeclared_pii": {f["column"]: {k: f[k] for k in ("kind", "share", "suggested")} for f in found}},
    )
