"""Source files: identity (checksum -> partition key), archiving, and parsing into raw rows.

A partition is one file's content: `<file name>@<first 16 hex of its sha256>`. The bytes are
copied once into the warehouse's content-addressed archive (`_sources/<dataset>/<sha256>/`),
so every partition can be re-run from the UI and every original stays retrievable even if the
landing file is later replaced. The landing zone itself is never modified.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.fs as pafs
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .contract import Contract
from .rules import CHECKSUM, PARSE_ERROR, RAW_RECORD, SOURCE_FILE, SOURCE_LINE

KEY_SEP = "@"


class SourceFileError(ValueError):
    """A file that cannot be read at all; the message names the file, the line and why."""


@dataclass(frozen=True)
class SourceFile:
    dataset: str
    name: str
    sha256: str
    size: int
    uri: str  # where it was found (landing zone)

    @property
    def partition_key(self) -> str:
        return f"{self.name}{KEY_SEP}{self.sha256[:16]}"


def sha256_of(uri: str) -> tuple[str, int]:
    fs, path = filesystem(_uri(uri))
    h, size = hashlib.sha256(), 0
    with fs.open_input_stream(path) as f:
        while chunk := f.read(8 << 20):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The Arrow filesystem and path for a file:// or s3:// URI.

    S3 takes its credentials and region from the standard AWS variables, and its endpoint from
    AWS_ENDPOINT_URL (S3-compatible stores, a loopback test server), http when AWS_ALLOW_HTTP.
    """
    if uri.startswith("s3://"):
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
        kwargs = {}
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs.update(endpoint_override=host or scheme, scheme=scheme if host else "https")
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if region:
            kwargs["region"] = region
        return pafs.S3FileSystem(**kwargs), uri.removeprefix("s3://")
    return pafs.FileSystem.from_uri(uri)


def _uri(path_or_uri: str | Path) -> str:
    s = str(path_or_uri)
    return s if "://" in s else Path(s).resolve().as_uri()


def describe(dataset: str, path_or_uri: str | Path) -> SourceFile:
    sha, size = sha256_of(str(path_or_uri))
    name = str(path_or_uri).rstrip("/").rsplit("/", 1)[-1]
    return SourceFile(dataset=dataset, name=name, sha256=sha, size=size, uri=_uri(path_or_uri))


def split_partition_key(key: str) -> tuple[str, str]:
    name, _, sha16 = key.rpartition(KEY_SEP)
    if not name or len(sha16) != 16:
        raise ValueError(f"'{key}' is not a source partition key (<file name>@<16 hex of sha256>)")
    return name, sha16


def archive_dir(warehouse_root: str, dataset: str) -> str:
    root = warehouse_root if "://" in warehouse_root else str(Path(warehouse_root).resolve())
    return f"{root.rstrip('/')}/_sources/{dataset}"


def archive(source: SourceFile, warehouse_root: str) -> str:
    """Copy the file into the content-addressed archive once; return the archived URI."""
    dest = f"{archive_dir(warehouse_root, source.dataset)}/{source.sha256}/{source.name}"
    dest_fs, dest_path = filesystem(_uri(dest))
    if dest_fs.get_file_info(dest_path).type == pafs.FileType.NotFound:
        src_fs, src_path = filesystem(source.uri)
        dest_fs.create_dir(dest_path.rsplit("/", 1)[0], recursive=True)
        tmp = dest_path + ".partial"
        with src_fs.open_input_stream(src_path) as fin, dest_fs.open_output_stream(tmp) as fout:
            while chunk := fin.read(8 << 20):
                fout.write(chunk)
        dest_fs.move(tmp, dest_path)
    return _uri(dest)


def find_archived(warehouse_root: str, dataset: str, partition_key: str) -> str:
    """The archived file behind a partition key."""
    name, sha16 = split_partition_key(partition_key)
    base = archive_dir(warehouse_root, dataset)
    fs, path = filesystem(_uri(base))
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    for info in infos:
        if info.base_name.startswith(sha16):
            candidate = f"{info.path}/{name}"
            if fs.get_file_info(candidate).type == pafs.FileType.File:
                return _uri(candidate) if "://" not in base else f"{base.split('://')[0]}://{candidate}"
    raise FileNotFoundError(
        f"no archived file for partition '{partition_key}' of {dataset} under {base}: "
        f"register it with `dq-platform ingest` (or drop it in the landing zone) first")


# -- parsing ---------------------------------------------------------------------------------

def read_source(uri: str, contract: Contract, display_name: str | None = None,
                checksum: str | None = None) -> pd.DataFrame:
    """The rows exactly as received (every value as text) plus file, line and checksum.

    `checksum` (the sha256 already known from the archive path) saves hashing the file again.
    """
    fs, path = filesystem(_uri(uri))
    with fs.open_input_stream(path) as f:
        data = f.read()
    checksum = checksum or hashlib.sha256(data).hexdigest()
    name = display_name or path.rsplit("/", 1)[-1]
    fmt = contract.source.format
    if not data or data.isspace():  # (no copy of the file, unlike data.strip())
        frame = pd.DataFrame({c.name: pd.Series(dtype="string") for c in contract.columns})
        frame[SOURCE_LINE] = pd.Series(dtype="int64")
    elif fmt == "csv":
        frame = _read_csv(data, contract, name)
    elif fmt == "jsonl":
        frame = _read_jsonl(data, name)
    else:
        frame = _read_parquet(data, name)
    frame[SOURCE_FILE] = name
    frame[CHECKSUM] = checksum
    if PARSE_ERROR not in frame.columns:
        frame[PARSE_ERROR] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


def _decode_check(data: bytes, encoding: str, name: str) -> str:
    """Honour a BOM; reject binary content; fall back from UTF-8 to cp1252 for non-UTF-8 text.

    Only the head is probed here; Arrow validates the rest while parsing (see _read_csv).
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8"
    head = data[:65536]
    if b"\x00" in head:
        line = head.count(b"\n", 0, head.index(b"\x00")) + 1
        raise SourceFileError(f"{name}:{line}: binary content (NUL bytes), not a text file")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head) - 4:  # not just a character cut at the probe's end
                return "cp1252"
    return encoding


def _record_lines(data: bytes, quote: bytes = b'"') -> tuple[np.ndarray, np.ndarray]:
    """Start line and byte offset of every non-empty CSV record (quoted newlines respected)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == ord("\n"))
    quotes = np.flatnonzero(buf == quote[0])
    boundary = nl[(np.searchsorted(quotes, nl) % 2) == 0]
    starts = np.concatenate(([0], boundary + 1))
    ends = np.concatenate((boundary, [len(buf)]))
    line_of_start = np.concatenate(([1], np.searchsorted(nl, boundary) + 2))
    width = ends - starts
    # a record of only "\r" is an empty line too
    cr_only = (width == 1) & (buf[np.minimum(starts, len(buf) - 1)] == ord("\r"))
    keep = (width > 0) & ~cr_only
    return line_of_start[keep], starts[keep]


def _record_start_lines(data: bytes, bad: list, encoding: str, good: int) -> tuple[np.ndarray, list[int]]:
    """Source lines of the parsed records and of the skipped bad rows (in file order)."""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if n_lines == 1 + good + len(bad):
        # The usual file: one line per record and no blank line, so the k-th record after the
        # header sits on line k + 2. No scan of the bytes is needed beyond the newline count.
        lines = np.arange(2, n_lines + 1, dtype="int64")
        bad_idx, pos, line = [], 0, 1
        for text, _, _ in bad:  # loops over bad rows only
            at = data.find(text.encode(encoding, errors="replace"), pos)
            if at < 0:
                break
            line += data.count(b"\n", pos, at)
            bad_idx.append(line - 2)
            pos = at
    else:
        # Records span lines (quoted newlines) or blank lines exist: find every record start.
        lines, offsets = _record_lines(data)
        lines, offsets = lines[1:], offsets[1:]  # header
        bad_idx, pos = [], int(offsets[0]) if len(offsets) else 0
        for text, _, _ in bad:
            at = data.find(text.encode(encoding, errors="replace"), pos)
            if at >= 0:
                bad_idx.append(int(np.searchsorted(offsets, at, side="right") - 1))
                pos = at + 1
    keep = np.ones(len(lines), bool)
    keep[bad_idx] = False
    bad_lines = lines[bad_idx].tolist() + [0] * (len(bad) - len(bad_idx))
    return lines[keep], bad_lines


def _read_csv(data: bytes, contract: Contract, name: str) -> pd.DataFrame:
    src = contract.source
    encoding = _decode_check(data, src.encoding, name)
    text_head = data[:65536].decode(encoding, errors="replace").lstrip("\ufeff")
    header = next(csv.reader(io.StringIO(text_head.split("\n", 1)[0] + "\n"), delimiter=src.delimiter), [])
    if not header or all(not h.strip() for h in header):
        raise SourceFileError(f"{name}:1: no header line")
    header = [h.strip() for h in header]
    if len(header) == 1 and len(contract.columns) > 1:
        other = next((d for d in ",;\t|" if d != src.delimiter and d in header[0]), None)
        if other:
            raise SourceFileError(
                f"{name}:1: header has one column but contains {other!r}: wrong delimiter "
                f"(the contract expects {src.delimiter!r})")
    bad: list[tuple[str, int, int]] = []

    def on_invalid(row) -> str:
        bad.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    def parse(enc: str) -> pa.Table:
        bad.clear()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(encoding=enc, column_names=header, skip_rows=1),
            parse_options=pacsv.ParseOptions(delimiter=src.delimiter, newlines_in_values=True,
                                             invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(column_types={h: pa.large_string() for h in header},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    try:
        try:
            table = parse(encoding)
        except pa.ArrowInvalid as e:
            if "invalid UTF8" not in str(e) or encoding != "utf-8":
                raise
            table = parse("cp1252")  # text in a legacy encoding: Arrow found non-UTF-8 bytes past the probe
    except pa.ArrowInvalid as e:
        raise SourceFileError(f"{name}: cannot be parsed as CSV: {e}") from None
    # large_string columns map to pandas' Arrow strings without a copy; self_destruct frees the
    # Arrow buffers as they are converted (peak memory ~1x the data, not 2x)
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get,
                            split_blocks=True, self_destruct=True)
    del table

    lines, bad_lines = _record_start_lines(data, bad, encoding, len(frame))
    if len(lines) != len(frame):  # defensive: never attach wrong line numbers
        lines = np.arange(2, len(frame) + 2)
    frame[SOURCE_LINE] = lines.astype("int64")
    if bad:
        errs = pd.DataFrame({
            PARSE_ERROR: [f"expected {exp} fields, found {act}" for _, exp, act in bad],
            RAW_RECORD: [text for text, _, _ in bad],
            SOURCE_LINE: np.asarray(bad_lines, dtype="int64"),
        })
        errs[PARSE_ERROR] = errs[PARSE_ERROR].astype("string")
        errs[RAW_RECORD] = errs[RAW_RECORD].astype("string")
        frame = pd.concat([frame, errs], ignore_index=True).sort_values(SOURCE_LINE, kind="stable")
        frame = frame.reset_index(drop=True)
    for h in header:
        frame[h] = frame[h].astype("string")
    return frame


def _read_jsonl(data: bytes, name: str) -> pd.DataFrame:
    try:
        table = pajson.read_json(io.BytesIO(data))
        frame = _as_text(table)
        lines = np.flatnonzero(np.array([bool(x.strip()) for x in data.split(b"\n")])) + 1
        frame[SOURCE_LINE] = lines[: len(frame)].astype("int64")
        return frame
    except pa.ArrowInvalid:
        pass
    # Broken lines: parse line by line so good lines are kept and bad ones quarantined.
    rows, errors = [], []
    for i, line in enumerate(data.decode("utf-8", errors="replace").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            rows.append({**{k: None if v is None else (v if isinstance(v, str) else json.dumps(v)) for k, v in obj.items()},
                         SOURCE_LINE: i})
        except ValueError as e:
            errors.append({PARSE_ERROR: f"invalid JSON: {e}", RAW_RECORD: line, SOURCE_LINE: i})
    frame = pd.DataFrame(rows + errors)
    for c in frame.columns:
        if c != SOURCE_LINE:
            frame[c] = frame[c].astype("string")
    return frame.sort_values(SOURCE_LINE).reset_index(drop=True)


def _read_parquet(data: bytes, name: str) -> pd.DataFrame:
    try:
        table = pq.read_table(io.BytesIO(data))
    except pa.ArrowInvalid as e:
        raise SourceFileError(f"{name}: not a readable Parquet file: {e}") from None
    frame = _as_text(table)
    frame[SOURCE_LINE] = np.arange(1, len(frame) + 1, dtype="int64")
    return frame


def _as_text(table: pa.Table) -> pd.DataFrame:
    """Typed columns (JSON, Parquet) as their text form, so raw is uniformly 'as received'."""
    cols = {}
    for name in table.column_names:
        col = table[name]
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            col = col.cast(pa.string()) if not pa.types.is_nested(col.type) else pa.array(
                [None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string())
        cols[name] = col
    return pa.table(cols).to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
