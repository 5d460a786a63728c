"""Parsing a source file into raw rows: every value as text, with its exact source line.

CSV (any delimiter, legacy encodings, UTF-16/32 with a byte-order mark, quoted line breaks:
csv_reader.py), JSON lines and Parquet. A row that cannot be parsed is kept whole with the reason (quarantine);
a file that cannot be read at all raises `landing.SourceFileError` naming the file, the line and why.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq

from dq_platform import settings
from dq_platform.contract import Contract
from dq_platform.engine.rules import CHECKSUM, PARSE_ERROR, RAW_RECORD, SOURCE_FILE, SOURCE_LINE
from dq_platform.io.csv_reader import BLANK, empty_frame, human_bytes, read_csv
from dq_platform.io.files import _uri, filesystem
from dq_platform.io.landing import SourceFileError

MAX_SOURCE_BYTES_ENV = "DQ_MAX_SOURCE_BYTES"


def max_source_bytes() -> int:
    """The largest file read in one piece: DQ_MAX_SOURCE_BYTES, else a sixteenth of physical memory.

    Most files are read in chunks (io/source_chunks.py) and never whole. A file that cannot be cut
    (UTF-16/32, an unbalanced quote, an odd header) is read in one piece: held as bytes, then Arrow
    columns, then pandas columns, then typed and judged — about 10-16x its size at the peak,
    measured — so above the limit the run fails up front with a message naming the file instead of
    being killed for lack of memory half-way. Accepts bytes or a binary suffix: 2000000000, 512M, 2G.
    """
    try:
        limit = settings.byte_size(MAX_SOURCE_BYTES_ENV)
    except settings.SettingsError as e:
        raise ValueError(str(e)) from None
    if limit is not None:
        return limit
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 16
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or the value is unknown
        return 1 << 30


def read_source(
    uri: str, contract: Contract, display_name: str | None = None, checksum: str | None = None
) -> pd.DataFrame:
    """The rows exactly as received (every value as text) plus file, line and checksum.

    `checksum` (the sha256 already known from the archive path) saves hashing the file again.
    A file above `max_source_bytes()` is refused before a byte of it is read.
    """
    fs, path = filesystem(_uri(uri))
    name = display_name or path.rsplit("/", 1)[-1]
    size, limit = fs.get_file_info(path).size, max_source_bytes()
    if size is not None and size > limit:
        raise SourceFileError(
            f"{name}: {human_bytes(size)} is above the {human_bytes(limit)} one-piece limit ({MAX_SOURCE_BYTES_ENV}); "
            f"split the file (each part becomes its own partition)"
        )
    with fs.open_input_stream(path) as f:
        data = f.read()
    checksum = checksum or hashlib.sha256(data).hexdigest()
    fmt = contract.source.format
    if BLANK.fullmatch(data):  # stops at the first other byte: no scan, no copy of the file
        frame = empty_frame([c.name for c in contract.columns])
    elif fmt == "csv":
        frame = read_csv(data, contract, name)
    elif fmt == "jsonl":
        frame = _read_jsonl(data, name)
    else:
        frame = _read_parquet(data, name)
    frame[SOURCE_FILE] = name
    frame[CHECKSUM] = checksum
    if PARSE_ERROR not in frame.columns:
        frame[PARSE_ERROR] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


_JSONL_SMALL = 32  # a failing block of at most this many lines is parsed line by line


def _read_jsonl(data: bytes, name: str) -> pd.DataFrame:
    """JSON lines as text columns, each row with its exact line number; a line that is not a JSON
    object is kept whole (`_raw_record`) with the reason, for quarantine. Blank lines are skipped.

    Arrow parses blocks of lines at C speed. A block that fails (a broken line, or a field whose JSON
    type differs between lines, e.g. "cpu": "high" among numbers) is split in halves until the
    failing lines are isolated; blocks of at most _JSONL_SMALL lines are parsed line by line. A file
    with a handful of bad lines therefore costs a few passes over its bytes, not a Python loop over
    every line. Values keep their JSON text: strings as they are, numbers and booleans as written by
    Arrow (1, 2.5, true), objects and arrays as JSON.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        data = b"   " + data[3:]  # a UTF-8 byte-order mark: blank it, keeping every offset
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if not len(ends) or ends[-1] != len(buf) - 1:
        ends = np.append(ends, len(buf))  # a last line without a line break
    starts = np.concatenate(([0], ends[:-1] + 1))
    # blank: empty, or whitespace only (only lines starting with whitespace are looked at, a loop over those)
    width = ends - starts
    first = buf[np.minimum(starts, max(len(buf) - 1, 0))] if len(buf) else np.zeros(len(starts), np.uint8)
    maybe = np.flatnonzero((width > 0) & np.isin(first, np.frombuffer(b" \t\r\f\v", dtype=np.uint8)))
    blank = width == 0
    blank[maybe] = [not data[starts[i] : ends[i]].strip() for i in maybe.tolist()]
    filled = np.flatnonzero(~blank)  # 0-based numbers of the non-blank lines
    if not len(filled):
        return empty_frame([])
    block = max(1 << 20, int((ends - starts).max()) + 2)
    frames: list[pd.DataFrame] = []

    def parse(lo: int, hi: int) -> None:  # non-blank lines filled[lo:hi]
        chunk = data[starts[filled[lo]] : ends[filled[hi - 1]]]
        if hi - lo > _JSONL_SMALL:
            try:
                table = pajson.read_json(io.BytesIO(chunk), read_options=pajson.ReadOptions(block_size=block))
            except pa.ArrowInvalid:
                table = None
            if table is not None and table.num_rows == hi - lo:
                frame = _as_text(table)
                frame[SOURCE_LINE] = (filled[lo:hi] + 1).astype("int64")
                frames.append(frame)
                return
            mid = (lo + hi) // 2
            parse(lo, mid)
            parse(mid, hi)
            return
        frames.append(_jsonl_lines(data, starts, ends, filled[lo:hi]))

    parse(0, len(filled))
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    for c in frame.columns:
        if c != SOURCE_LINE:
            frame[c] = frame[c].astype("string")
    return frame.sort_values(SOURCE_LINE, kind="stable").reset_index(drop=True)


def _jsonl_lines(data: bytes, starts: np.ndarray, ends: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
    """A few lines parsed one by one with json: good ones as text columns, bad ones whole with the reason."""
    rows = []
    for i in lines.tolist():
        text = data[starts[i] : ends[i]].decode("utf-8", errors="replace").rstrip("\r")
        try:
            obj = json.loads(text)
            if not isinstance(obj, dict):
                raise ValueError(f"a JSON {type(obj).__name__}, not an object")
            rows.append(
                {
                    **{k: None if v is None else (v if isinstance(v, str) else json.dumps(v)) for k, v in obj.items()},
                    SOURCE_LINE: i + 1,
                }
            )
        except ValueError as e:
            rows.append({PARSE_ERROR: f"invalid JSON: {e}", RAW_RECORD: text, SOURCE_LINE: i + 1})
    frame = pd.DataFrame(rows)
    for c in frame.columns:
        frame[c] = frame[c].astype("int64" if c == SOURCE_LINE else "string")
    return frame


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
            col = (
                col.cast(pa.string())
                if not pa.types.is_nested(col.type)
                else pa.array([None if v is None else json.dumps(v) for v in col.to_pylist()], pa.string())
            )
        cols[name] = col
    return pa.table(cols).to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
