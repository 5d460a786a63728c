"""Contract-driven generator of realistic, messy sample data.

Used by ``dq-platform demo``, by the tests and by the benchmarks. Everything is derived from the
contract (column type, format, pii category, allowed values, bounds, lengths, pattern, unique,
required, expression rules), so a new YAML contract gets demo data without code.

Three kinds of rows come out:

* clean rows, which a correct pipeline must accept;
* cosmetically dirty clean rows (~20%: stray whitespace, wrong case, phones and dates in other
  accepted formats, null tokens in optional columns), which cleaning must fix, not reject;
* faulty rows (``bad_fraction``), each with exactly one injected fault that violates exactly one
  contract rule, recorded in ``SampleData.faults`` so tests know how many rows must be rejected.

Conventions a validator must share for the counts to be exact: cosmetic dates use
DEFAULT_DATE_FORMATS / DEFAULT_TIMESTAMP_FORMATS unless the column lists date_formats
(03/04/2021 is US month/day); phones in any common North-American spelling normalize to
XXX-XXX-XXXX; values in source.null_values (after trimming) are missing; a duplicate is every
occurrence after the first; expression rules are judged only on rows where all their operands
are present and parse (a missing or malformed operand is that column's fault, not the rule's).

Generation is vectorized per column (numpy + pyarrow compute, no per-row Python loops) and
chunked (CHUNK_ROWS) to bound memory, so a million rows take seconds. All vocabularies are
built in: no network, no extra dependency.
"""

from __future__ import annotations

import fnmatch
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa

from dq_platform.contract import Contract
from dq_platform.demo.sample_data.builder import _Builder
from dq_platform.demo.sample_data.world import DEFAULT_DATE_FORMATS, DEFAULT_TIMESTAMP_FORMATS, FAULT_KINDS

__all__ = [
    "SampleData",
    "generate",
    "write_files",
    "file_samples",
    "file_seed",
    "DEFAULT_DATE_FORMATS",
    "DEFAULT_TIMESTAMP_FORMATS",
    "FAULT_KINDS",
]

# Rows are generated in chunks of this size: bounds temporary memory (and page faults, which
# are expensive on small VMs) whatever the row count. Ids stay global across chunks.
CHUNK_ROWS = 262_144

# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


@dataclass
class SampleData:
    """Generated rows plus the ground truth of which rows carry which injected fault."""

    frame: pd.DataFrame  # every column as CSV text, dtype "string"; nulls are <NA>
    faults: pd.Series  # None for clean rows, else the fault kind
    fault_targets: pd.Series  # None, or the column (or "rule:<id>") the fault violates
    table: pa.Table = field(repr=False)  # same data as Arrow, for fast writing

    @property
    def bad_rows(self) -> int:
        """How many rows a correct validator must reject."""
        return int(self.faults.notna().sum())

    @property
    def clean_mask(self) -> pd.Series:
        return self.faults.isna()


def generate(
    contract: Contract,
    rows: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    id_offset: int = 0,
    reference_ids: int | None = None,
) -> SampleData:
    """Generate ``rows`` rows for ``contract``; deterministic for a given seed.

    ``id_offset`` shifts sequential ids (and unique pattern values) so several calls produce
    disjoint keys. Integer identifier columns that reference another dataset (pii category
    identifier, not unique, e.g. sales_transactions.customer_id) draw from 1..reference_ids
    (default: ``rows``) so they join to a customers table of that size.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0 <= bad_fraction <= 1:
        raise ValueError("bad_fraction must be between 0 and 1")
    rows = int(rows)
    reference_ids = max(1, int(reference_ids if reference_ids is not None else rows))
    tables, kinds, targets = [], [], []
    for chunk, start in enumerate(range(0, max(rows, 1), CHUNK_ROWS)):
        n = min(CHUNK_ROWS, rows - start)
        b = _Builder(contract, n, int(seed), float(bad_fraction), int(id_offset) + start, reference_ids, chunk)
        table, k, t = b.build()
        tables.append(table)
        kinds.append(k)
        targets.append(t)
        del b
    table = pa.concat_tables(tables) if len(tables) > 1 else tables[0]
    del tables
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow")}.get
    )
    return SampleData(
        frame=frame,
        faults=pd.Series(np.concatenate(kinds), name="fault", dtype=object),
        fault_targets=pd.Series(np.concatenate(targets), name="fault_target", dtype=object),
        table=table,
    )


def file_seed(seed: int, index: int) -> int:
    """The seed of file number ``index`` (0-based) of a write_files run: distinct per file."""
    return int(np.random.SeedSequence([abs(int(seed)), int(index)]).generate_state(1, np.uint64)[0] >> 2)


def file_samples(
    contract: Contract,
    files: int,
    rows_per_file: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    reference_ids: int | None = None,
) -> Iterator[tuple[PurePosixPath, SampleData]]:
    """Yield (path relative to the landing zone, data) per file, one file in memory at a time.

    What write_files writes; callers that need the ground truth of each file (tests,
    benchmarks) iterate this instead of re-reading the files.
    """
    if reference_ids is None:
        reference_ids = max(1, files * rows_per_file)
    paths = [_file_relpath(contract, k, files) for k in range(files)]
    if len(set(paths)) != len(paths):
        raise ValueError(f"source pattern '{contract.source.pattern}' cannot name {files} distinct files")
    for k, rel in enumerate(paths):
        yield (
            rel,
            generate(
                contract,
                rows_per_file,
                seed=file_seed(seed, k),
                bad_fraction=bad_fraction,
                id_offset=k * rows_per_file,
                reference_ids=reference_ids,
            ),
        )


def write_files(
    contract: Contract,
    directory: str | Path,
    files: int,
    rows_per_file: int,
    seed: int = 0,
    bad_fraction: float = 0.04,
    reference_ids: int | None = None,
) -> list[Path]:
    """Write ``files`` files matching contract.source.pattern under ``directory``.

    Ids are distinct across files (id_offset), seeds differ per file, output is deterministic.
    CSV goes through the Arrow writer (fast, UTF-8, header); jsonl/parquet when the contract's
    source.format says so.
    """
    directory = Path(directory)
    out = []
    for rel, data in file_samples(contract, files, rows_per_file, seed, bad_fraction, reference_ids):
        path = directory.joinpath(*rel.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write(contract, data, path)
        out.append(path)
        del data
    return out


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def _fill_glob(segment: str, stem: str, index: int) -> str:
    """Turn a glob segment into a concrete name: '*' -> stem, '?' -> digits, '[ab]' -> 'a'."""
    segment = re.sub(r"\[!?(.)[^\]]*\]", lambda m: m.group(1), segment)
    q = segment.count("?")
    if q:
        digits = str(index).zfill(q)[-q:]
        for d in digits:
            segment = segment.replace("?", d, 1)
    first, *rest = segment.split("*")
    if rest:
        segment = first + stem + "".join(rest)
    return segment


def _file_relpath(contract: Contract, k: int, files: int) -> PurePosixPath:
    pattern = contract.source.pattern.replace("\\", "/").lstrip("/")
    parts = PurePosixPath(pattern).parts
    dirs = ["data" if p == "**" else _fill_glob(p, "data", 0) for p in parts[:-1]]
    base = parts[-1]
    stem = f"{contract.name}_{k + 1:04d}" if base.startswith("*") else f"{k + 1:04d}"
    if "*" not in base and "?" not in base and files > 1:
        raise ValueError(f"source pattern '{contract.source.pattern}' names a single file")
    rel = PurePosixPath(*dirs, _fill_glob(base, stem, k + 1))
    if not fnmatch.fnmatch(str(rel), pattern):
        raise ValueError(f"cannot derive a file name matching '{contract.source.pattern}' (got {rel})")
    return rel


def _write(contract: Contract, data: SampleData, path: Path) -> None:
    fmt = contract.source.format
    if fmt == "parquet":
        import pyarrow.parquet as pq

        pq.write_table(data.table, path)
    elif fmt == "jsonl":
        data.frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        import pyarrow.csv as pcsv

        opts = pcsv.WriteOptions(include_header=True, delimiter=contract.source.delimiter)
        enc = contract.source.encoding.lower().replace("_", "-")
        if enc in ("utf-8", "utf8"):
            pcsv.write_csv(data.table, str(path), write_options=opts)
        else:
            buf = io.BytesIO()
            pcsv.write_csv(data.table, buf, write_options=opts)
            path.write_bytes(buf.getvalue().decode("utf-8").encode(contract.source.encoding, errors="replace"))
