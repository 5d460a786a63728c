"""A source file as a sequence of chunks: byte ranges that each hold whole records.

`plan` reads the file once as a stream (bounded memory) and cuts it at record boundaries about
`chunk_bytes` apart; `read_chunk` reads one chunk by byte range straight from the file's URI (local
or s3://) and parses it exactly as the whole file would be parsed, with the same source line
numbers. So a worker process, or a Dask worker on another machine, reads only its own bytes.

CSV: a line break is a record boundary when the quotes before it are balanced (RFC 4180: quoted
values may hold line breaks, `""` escapes a quote), so a quoted multi-line record never straddles
two chunks. A chunk whose last record still ends inside quotes (a stray quote in an unquoted value
makes the count lie) raises `BoundaryError` and the caller reads the file as one chunk: exact, only
not bounded. JSON lines: every line break is a boundary. Parquet: groups of row groups. A file in
UTF-16/32 (byte-order mark) is one chunk: its bytes cannot be cut without decoding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dq_platform.contract import Contract
from dq_platform.engine.rules import CHECKSUM, PARSE_ERROR, SOURCE_FILE, SOURCE_LINE
from dq_platform.io.csv_reader import BLANK, empty_frame, read_csv
from dq_platform.io.files import _uri, filesystem
from dq_platform.io.readers import _as_text, _read_jsonl, _read_parquet

_BLOCK = 16 << 20  # bytes read per step of the planning pass
_UNCUTTABLE_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
UNCLOSED_AT_END = "the file ends inside a quoted value"


class BoundaryError(RuntimeError):
    """A chunk's last record is unfinished: the quote count misled the cut; read the file whole."""


@dataclass(frozen=True)
class Chunk:
    uri: str  # the archived source file
    index: int
    start: int  # byte offsets [start, end) of the records (CSV: after the header)
    end: int
    first_line: int  # source line of the chunk's first byte
    header_end: int = 0  # CSV: bytes of the header line including its line break
    last: bool = True
    row_groups: tuple[int, ...] = ()  # Parquet


def _line_breaks(block: bytes, prev_cr: bool) -> int:
    """Line breaks in `block` as the CSV parser counts them (\n, \r\n, lone \r), given whether the
    previous block ended with \r (a \r\n split across blocks is one break)."""
    n = block.count(b"\n")
    if b"\r" in block:
        n += block.count(b"\r") - block.count(b"\r\n")
        if block.endswith(b"\r"):
            n -= 1  # decided with the next block
    if prev_cr and not block.startswith(b"\n"):
        n += 1  # the previous block's trailing \r was a lone one
    return n


def plan(uri: str, contract: Contract, chunk_bytes: int) -> list[Chunk]:
    """The file's chunks, about `chunk_bytes` of source each (one chunk for a small file)."""
    fs, path = filesystem(_uri(uri))
    size = fs.get_file_info(path).size or 0
    fmt = contract.source.format
    if fmt == "parquet":
        return _plan_parquet(uri, fs, path, chunk_bytes)
    if size <= chunk_bytes or fmt not in ("csv", "jsonl"):
        return [Chunk(uri, 0, 0, size, 1, header_end=-1)]
    csv = fmt == "csv"
    cuts: list[tuple[int, int]] = []  # (byte offset, line number of the byte there)
    with fs.open_input_stream(path) as f:
        head = f.read(_BLOCK)
        if head.startswith(_UNCUTTABLE_BOMS) or (b"\x00" in head[:65536]):
            return [Chunk(uri, 0, 0, size, 1, header_end=-1)]
        header_end = 0
        if csv:
            nl = head.find(b"\n")
            if nl < 0 or b'"' in head[:nl] or b"\r" in head[:nl].rstrip(b"\r"):
                return [Chunk(uri, 0, 0, size, 1, header_end=-1)]  # odd header: the whole-file reader decides
            header_end = nl + 1
        offset, block, quotes, breaks, prev_cr = 0, head, 0, 0, False
        target = header_end + chunk_bytes
        while block:
            pos = max(0, target - offset)
            while pos < len(block):
                nl = block.find(b"\n", pos)
                if nl < 0:
                    break
                if not csv or (quotes + block.count(b'"', 0, nl)) % 2 == 0:
                    cut = offset + nl + 1
                    if cut < size:
                        cuts.append((cut, 1 + breaks + _line_breaks(block[: nl + 1], prev_cr)))
                    target = cut + chunk_bytes
                    pos = max(nl + 1, target - offset)
                else:
                    pos = nl + 1
            if csv:
                quotes += block.count(b'"')
            breaks += _line_breaks(block, prev_cr)
            prev_cr = block.endswith(b"\r")
            offset += len(block)
            block = f.read(_BLOCK)
    starts = [(header_end, 2 if csv else 1), *cuts]
    ends = [c for c, _ in cuts] + [size]
    return [
        Chunk(uri, i, s, e, line, header_end=header_end, last=i == len(starts) - 1)
        for i, ((s, line), e) in enumerate(zip(starts, ends))
    ]


def _plan_parquet(uri: str, fs, path: str, chunk_bytes: int) -> list[Chunk]:
    with fs.open_input_file(path) as f:
        meta = pq.ParquetFile(f).metadata
    groups: list[list[int]] = [[]]
    size = 0
    for g in range(meta.num_row_groups):
        if groups[-1] and size >= chunk_bytes:
            groups.append([])
            size = 0
        groups[-1].append(g)
        size += meta.row_group(g).total_byte_size
    if len(groups) == 1:
        return [Chunk(uri, 0, 0, 0, 1, header_end=-1)]
    first, out = 1, []
    for i, gs in enumerate(groups):
        out.append(Chunk(uri, i, 0, 0, first, last=i == len(groups) - 1, row_groups=tuple(gs)))
        first += sum(meta.row_group(g).num_rows for g in gs)
    return out


def read_chunk(chunk: Chunk, contract: Contract, name: str, checksum: str) -> pd.DataFrame:
    """The chunk's raw rows (every value as text) with file, exact source line and checksum: the
    rows `readers.read_source` gives for the same lines of the whole file."""
    from dq_platform.io.readers import read_source

    if chunk.header_end < 0:  # the whole file is one chunk
        return read_source(chunk.uri, contract, display_name=name, checksum=checksum)
    fs, path = filesystem(_uri(chunk.uri))
    fmt = contract.source.format
    if fmt == "parquet":
        with fs.open_input_file(path) as f:
            table = pq.ParquetFile(f).read_row_groups(list(chunk.row_groups))
        frame = _as_text(table)
        frame[SOURCE_LINE] = np.arange(chunk.first_line, chunk.first_line + len(frame), dtype="int64")
    else:
        with fs.open_input_file(path) as f:
            header = f.read_at(chunk.header_end, 0) if chunk.header_end else b""
            body = f.read_at(chunk.end - chunk.start, chunk.start)
        if BLANK.fullmatch(body):
            frame = empty_frame([c.name for c in contract.columns])
        elif fmt == "csv":
            frame = read_csv(header + body, contract, name)
            frame[SOURCE_LINE] += chunk.first_line - 2
            if not chunk.last and PARSE_ERROR in frame.columns and len(frame):
                tail = frame[PARSE_ERROR].iloc[-1]
                if isinstance(tail, str) and UNCLOSED_AT_END in tail:
                    raise BoundaryError(f"{name}: chunk {chunk.index} ends inside a quoted value")
        else:
            frame = _read_jsonl(body, name)
            if SOURCE_LINE in frame.columns:
                frame[SOURCE_LINE] += chunk.first_line - 1
    frame[SOURCE_FILE] = name
    frame[CHECKSUM] = checksum
    if PARSE_ERROR not in frame.columns:
        frame[PARSE_ERROR] = pd.Series(pd.NA, index=frame.index, dtype="string")
    return frame


__all__ = ["BoundaryError", "Chunk", "plan", "read_chunk", "_read_parquet"]
