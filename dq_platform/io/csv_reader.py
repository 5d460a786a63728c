"""CSV into raw rows: every value as text, each record with its exact source line.

One thing, kept together: which bytes are text (known binary formats refused, UTF-16/32 with a
byte-order mark, legacy Western encodings, mixed files), the header, and the mapping of Arrow's
parsed records and skipped bad rows back to line numbers through blank lines, quoted line breaks
and unclosed quotes — all vectorized, with a loop over bad rows only.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from dq_platform import settings
from dq_platform.contract import Contract
from dq_platform.engine.rules import PARSE_ERROR, RAW_RECORD, SOURCE_LINE
from dq_platform.io.landing import SourceFileError

# empty, whitespace only, or only a byte-order mark: nothing to read
BLANK = re.compile(rb"(?:\xef\xbb\xbf)?\s*")
MAX_RECORD_ENV = "DQ_MAX_RECORD_BYTES"
_FIRST_BLOCK = 1 << 20  # Arrow's default block; grown (x8 per try) for a longer header or record


def human_bytes(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def max_record_bytes() -> int:
    """The longest header or record read (DQ_MAX_RECORD_BYTES, default 64 MiB): Arrow parses in
    blocks that must hold a whole record, so the limit bounds the memory one block takes."""
    return settings.byte_size(MAX_RECORD_ENV) or 64 << 20


def empty_frame(columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="string") for c in columns})
    frame[SOURCE_LINE] = pd.Series(dtype="int64")
    return frame


# Files that are not text at all, by their first bytes: (signature, what it is, what to do).
_SIGNATURES = [
    (b"\x1f\x8b", "gzip-compressed data", "decompress it first"),
    (b"PK\x03\x04", "a ZIP archive (or an Excel .xlsx workbook)", "extract it, or export the sheet as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an OLE2 document (e.g. an Excel .xls workbook)", "export the sheet as CSV"),
    (b"\xfd7zXZ\x00", "xz-compressed data", "decompress it first"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data", "decompress it first"),
    (b"BZh", "bzip2-compressed data", "decompress it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "extract it first"),
    (b"PAR1", "a Parquet file", "declare `format: parquet` in a contract for it"),
]
# Unicode byte-order marks other than UTF-8's (spreadsheet tools write "Unicode text" as UTF-16).
_BOMS = [
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
]


def _text_bytes(data: bytes, encoding: str, name: str) -> tuple[bytes, str]:
    """The file as bytes for the CSV parser, and their encoding.

    Known binary formats and NUL bytes are refused (file, line, why); UTF-16/32 with a
    byte-order mark is transcoded to UTF-8; a UTF-8 BOM is honoured; content that is not valid
    UTF-8 is read as cp1252 (see _not_utf8).
    """
    for magic, what, todo in _SIGNATURES:
        if data.startswith(magic) and (magic != b"BZh" or data[4:10] == b"1AY&SY"):
            raise SourceFileError(f"{name}:1: {what}, not a CSV text file: {todo}")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(codec).encode("utf-8"), "utf-8"
            except UnicodeDecodeError as e:
                line = data[len(bom) : len(bom) + e.start].decode(codec, errors="replace").count("\n") + 1
                raise SourceFileError(
                    f"{name}:{line}: not valid {codec.upper()} although the file starts with "
                    f"its byte-order mark ({e.reason})"
                ) from None
    head = data[:65536]
    if b"\x00" in head:
        at = head.index(b"\x00")
        even, odd = head[0::2], head[1::2]
        utf16 = any(a.count(0) > 0.9 * len(a) and b"\x00" not in b for a, b in ((odd, even), (even, odd)))
        line = head.count(b"\n", 0, at) + 1
        hint = " (it looks like UTF-16 without a byte-order mark: save it as UTF-8)" if utf16 else ""
        raise SourceFileError(f"{name}:{line}: binary content (NUL bytes), not a text file{hint}")
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        # the whole file, not a head: a non-UTF-8 byte in a bad row would otherwise reach the
        # parser, which cannot hand such a row to on_invalid
        return (data, "utf-8") if _is_utf8(data) else _not_utf8(data)
    return data, encoding


_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_NOT_CP1252 = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")  # the five bytes cp1252 leaves undefined
_LINE_NOT_UTF8 = re.compile("[^\r\n]*[\udc80-\udcff][^\r\n]*")  # a line holding undecodable bytes


def _legacy_codec(data: bytes) -> str:
    # cp1252 and Latin-1 agree on every printable Latin-1 character; cp1252 adds €, “”, – etc.
    return "latin-1" if _NOT_CP1252.search(data) else "cp1252"


def _not_utf8(data: bytes) -> tuple[bytes, str]:
    """Content that is not valid UTF-8: a legacy Western encoding, or a mix.

    Without a single UTF-8 multi-byte sequence the file is in a legacy encoding and is read as
    cp1252 (Latin-1 when it holds bytes cp1252 leaves undefined). A file mixing UTF-8 lines with
    legacy lines (e.g. two extracts concatenated) is decoded line by line instead, so its UTF-8
    lines are not garbled: only the lines that are not valid UTF-8 are read as cp1252 (a loop
    over those lines only).
    """
    if not _UTF8_MULTIBYTE.search(data):
        return data, _legacy_codec(data)

    def legacy(line: re.Match) -> str:
        raw = line.group().encode("utf-8", errors="surrogateescape")  # the line's original bytes
        return raw.decode(_legacy_codec(raw))

    text = _LINE_NOT_UTF8.sub(legacy, data.decode("utf-8", errors="surrogateescape"))
    return text.encode("utf-8"), "utf-8"


def _is_utf8(data: bytes) -> bool:
    """UTF-8 validation without a decoded copy (Arrow's validator)."""
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.LargeStringArray.from_buffers(1, offsets, pa.py_buffer(data)).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _header_names(cells: list[str], name: str) -> list[str]:
    """Header cells as column names: stripped; a blank cell is named by its position."""
    names = [c.strip() or f"unnamed_{i}" for i, c in enumerate(cells, start=1)]
    where: dict[str, list[int]] = {}
    for i, n in enumerate(names, start=1):
        where.setdefault(n, []).append(i)
    repeated = {n: pos for n, pos in where.items() if len(pos) > 1}
    if repeated:
        listed = "; ".join(f"{n!r} (columns {', '.join(map(str, pos))})" for n, pos in repeated.items())
        raise SourceFileError(
            f"{name}:1: the header names a column more than once: {listed}; "
            f"which one holds the values is ambiguous, rename or remove the repeats"
        )
    return names


_LINE_BREAK = re.compile(rb"[\r\n]")
_LINE_END_TEXT = re.compile(r"\r\n|\n|\r")


def _breaks(data: bytes, start: int = 0, end: int | None = None) -> int:
    """Line breaks in data[start:end] (\n, \r\n and a lone \r, as the CSV parser counts them)."""
    end = len(data) if end is None else end
    n = data.count(b"\n", start, end)
    if data.find(b"\r", start, end) >= 0:
        n += data.count(b"\r", start, end) - data.count(b"\r\n", start, end)
    return n


def _n_lines(data: bytes, n_breaks: int) -> int:
    return n_breaks + (0 if data.endswith((b"\n", b"\r")) else 1)


def _nonblank_lines(data: bytes, has_cr: bool) -> np.ndarray:
    """1-based numbers of the lines holding anything (the CSV parser skips empty lines)."""
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == ord("\n"))
    if has_cr:
        cr = np.flatnonzero(buf == ord("\r"))
        lone = cr[(cr + 1 == len(buf)) | (buf[np.minimum(cr + 1, len(buf) - 1)] != ord("\n"))]
        ends = np.union1d(ends, lone)
    if not len(ends) or ends[-1] != len(buf) - 1:
        ends = np.append(ends, len(buf))  # a last line without a line break
    starts = np.concatenate(([0], ends[:-1] + 1))
    width = ends - starts
    blank = (width == 0) | ((width == 1) & (buf[np.minimum(starts, len(buf) - 1)] == ord("\r")))
    return np.flatnonzero(~blank) + 1


_VALUE_BREAKS = "[\r\n]+"  # a run of line breaks inside a value starts one more non-blank line


def _lines_of(text: str) -> int:
    """Non-blank lines a bad row's text covers. The parser leaves a row's own line break out of
    its text, so a text ending in one was cut off inside quotes at the end of the file: that last
    run of breaks starts no line."""
    return 1 + len(re.findall(_VALUE_BREAKS, text)) - text.endswith(("\n", "\r"))


def _lines_per_record(table: pa.Table, has_cr: bool) -> np.ndarray:
    """Non-blank lines each parsed record covers, from its values (vectorized, Arrow compute):
    the regex runs only on the values that hold a line break."""
    nb = np.ones(table.num_rows, dtype="int64")
    for col in table.columns:
        has = pc.match_substring(col, "\n")
        if has_cr:
            has = pc.or_(has, pc.match_substring(col, "\r"))
        rows = np.flatnonzero(has.to_numpy(zero_copy_only=False))
        if len(rows):
            nb[rows] += pc.count_substring_regex(col.take(pa.array(rows)), _VALUE_BREAKS).to_numpy()
    return nb


def _find_row(data: bytes, raw: bytes, pos: int, has_cr: bool) -> int:
    """Offset of the next line at or after `pos` that is exactly `raw` (-1: none)."""
    while True:
        at = data.find(b"\n" + raw, pos)
        if has_cr:
            at_cr = data.find(b"\r" + raw, pos, at + 1 + len(raw) if at >= 0 else len(data))
            at = at_cr if at_cr >= 0 else at
        if at < 0:
            return -1
        end = at + 1 + len(raw)
        if end == len(data) or data[end] in b"\r\n":
            return at + 1
        pos = at + 1


def _line_start(data: bytes, line: int, n_breaks: int, has_cr: bool) -> int:
    """Byte offset where `line` (1-based) starts, found from the end: a loop over the lines after it."""
    if line <= 1:
        return 0
    end, to_pass = len(data), n_breaks - line + 2  # back to the line break ending line - 1
    while to_pass > 0:
        at = max(data.rfind(b"\n", 0, end), data.rfind(b"\r", 0, end) if has_cr else -1)
        if data[at : at + 1] == b"\n" and at > 0 and data[at - 1 : at] == b"\r":
            at -= 1  # \r\n is one line break
        end, to_pass = at, to_pass - 1
    return end + (2 if data[end : end + 2] == b"\r\n" else 1)


def _ends_inside_quotes(record: bytes, delimiter: str) -> bool:
    """Whether the file ends inside a quoted value opened in its last record (quotes open a
    value only at its start, "" is an escaped quote), e.g. a file cut off mid-value."""
    d = re.escape(delimiter.encode())
    field = rb'(?:"(?:[^"]|"")*"[^' + d + rb'\r\n]*|[^"' + d + rb"\r\n][^" + d + rb"\r\n]*|)"
    return re.match(rb"(?:" + field + d + rb')*"(?:[^"]|"")*\Z', record) is not None


def _source_lines(
    data: bytes,
    n_breaks: int,
    has_cr: bool,
    nonblank: np.ndarray | None,
    good_nb: np.ndarray | None,
    n_good: int,
    bad: list,
    encoding: str,
    delimiter: str,
    name: str,
) -> tuple[np.ndarray, list[int], dict | None]:
    """Source line of every parsed record and of every skipped bad row.

    Records start on a non-blank line (the parser skips empty ones), and each covers one more
    non-blank line per run of line breaks inside its values (`good_nb`, counted on the parsed
    values, so the parser's own quoting rules decide, not a guess from quote characters). With
    N = `nonblank`, the non-blank lines after the header, the i-th record in file order starts
    on line N[non-blank lines of the records before it]. `nonblank` None: no line is blank and
    every record is one line (the usual file), so N is 2..lines; `good_nb` None: every parsed
    record is one line.

    Bad rows (not among the parsed records) are found by their text at a line start, in order,
    and slotted in between the parsed records: a loop over bad rows only. The last record is
    checked for a quote that is never closed (returned as `unclosed`: its line and text).
    """
    if nonblank is None:
        nonblank = np.arange(2, _n_lines(data, n_breaks) + 1, dtype="int64")
    if good_nb is None:
        starts, total_good = np.arange(n_good, dtype="int64"), n_good
    else:
        starts, total_good = np.cumsum(good_nb) - good_nb, int(good_nb.sum())
    # starts: index into nonblank of each parsed record, as if there were no bad rows
    before = np.zeros(n_good + 1, dtype="int64")  # non-blank lines of bad rows just before record k
    bad_lines: list[int] = []
    first = _LINE_BREAK.search(data)
    pos, row_start, line, taken, k, nb = first.start() if first else len(data), 0, 1, 0, 0, 0
    for text, expected, actual in bad:
        raw = text.encode(encoding, errors="replace")
        while True:
            at = _find_row(data, raw, pos, has_cr)
            if at < 0:  # never quote the row: it may hold personal data (errors reach logs and alerts)
                raise SourceFileError(
                    f"{name}: cannot locate an unparseable row ({actual} fields where {expected} were "
                    f"expected, after line {line}) in the file, so its line number is unknown"
                )
            line += _breaks(data, row_start, at)
            row_start, pos = at, at + len(raw)
            r = int(np.searchsorted(nonblank, line)) - taken
            k = int(np.searchsorted(starts, r))
            if (k < n_good and starts[k] == r) or (k == n_good and r == total_good):
                break  # between two parsed records; otherwise the text matched inside a multi-line value
        nb = _lines_of(text)
        bad_lines.append(line)
        before[k] += nb
        taken += nb
    good_idx = starts + np.cumsum(before)[:n_good] if bad else starts

    # The last record: a quote opened in it and never closed swallows the rest of the file.
    unclosed = None
    last_is_bad = bool(bad) and k == n_good
    if n_good or bad:
        last_idx = int(np.searchsorted(nonblank, bad_lines[-1])) if last_is_bad else int(good_idx[-1])
        if last_idx < len(nonblank):
            last_line = int(nonblank[last_idx])
            record = data[_line_start(data, last_line, n_breaks, has_cr) :]
            if _ends_inside_quotes(record, delimiter):
                covers = len(nonblank) - last_idx  # every non-blank line to the end of the file
                if last_is_bad:
                    taken += covers - nb
                else:
                    total_good -= int(good_nb[-1]) if good_nb is not None else 1
                    taken += covers
                unclosed = {
                    "line": last_line,
                    "text": record.decode(encoding, errors="replace").rstrip("\r\n"),
                    "parsed": not last_is_bad,
                }
    if total_good + taken != len(nonblank):
        raise SourceFileError(
            f"{name}: cannot assign exact line numbers: the parser found records covering "
            f"{total_good + taken} non-blank lines but the file has {len(nonblank)} after the header "
            f"(mixed line endings?)"
        )
    return nonblank[good_idx], bad_lines, unclosed


def _unclosed_quote_line(data: bytes) -> int | None:
    """The line where the longest run of quoted line breaks starts (by quote parity): the likely
    line of a quote that is never closed. Only called when parsing already failed."""
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == ord("\n"))
    inside = (np.searchsorted(np.flatnonzero(buf == ord('"')), nl) % 2 == 1).astype(np.int8)
    if not inside.any():
        return None
    edges = np.diff(np.concatenate(([0], inside, [0])))
    run_starts, run_ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int(run_starts[np.argmax(run_ends - run_starts)]) + 1


def _longest_record_line(data: bytes) -> int:
    """The line of the likely culprit when a record is longer than the limit: where the longest
    run of quoted line breaks starts (a quote never closed), else the longest line."""
    line = _unclosed_quote_line(data)
    if line is not None:
        return line
    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.concatenate(([-1], np.flatnonzero(buf == ord("\n")), [len(buf)]))
    return int(np.argmax(np.diff(ends))) + 1


def _arrow_reason(e: Exception) -> str:
    """Arrow's parse error without the record text it may end with (`...: <the row>`)."""
    first = str(e).splitlines()[0] if str(e) else type(e).__name__
    parts = first.split(": ")
    return ": ".join(parts[:2]) if len(parts) > 2 else first


def _header(data: bytes, encoding: str, contract: Contract, name: str, limit: int) -> tuple[list[str], int]:
    """The header's column names, read from the whole first line however long, and its length in bytes."""
    src = contract.source
    first = _LINE_BREAK.search(data)
    end = first.start() if first else len(data)
    if end > limit:
        raise SourceFileError(
            f"{name}:1: the header line is {human_bytes(end)} long, above the {human_bytes(limit)} "
            f"limit of one record ({MAX_RECORD_ENV})"
        )
    text = data[:end].decode(encoding, errors="replace").lstrip("\ufeff")
    csv.field_size_limit(max(csv.field_size_limit(), limit))  # one header cell may be long too
    cells = next(csv.reader([text], delimiter=src.delimiter), [])
    if not cells or all(not h.strip() for h in cells):
        raise SourceFileError(f"{name}:1: no header line")
    header = _header_names(cells, name)
    if len(header) == 1 and len(contract.columns) > 1:
        other = next((d for d in ",;\t|" if d != src.delimiter and d in header[0]), None)
        if other:
            raise SourceFileError(
                f"{name}:1: header has one column but contains {other!r}: wrong delimiter "
                f"(the contract expects {src.delimiter!r})"
            )
    declared = {c.name for c in contract.columns}
    if declared and not declared.intersection(header):
        # said without quoting the cells: a file without its header has data on line 1
        raise SourceFileError(
            f"{name}:1: the header names none of the contract's {len(declared)} columns "
            f"(a file without a header line, or a file of another dataset?)"
        )
    return header, end


def _parse(data: bytes, header: list[str], encoding: str, delimiter: str, block: int, bad: list) -> pa.Table:
    def on_invalid(row) -> str:
        bad.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    return pacsv.read_csv(
        io.BytesIO(data),
        read_options=pacsv.ReadOptions(encoding=encoding, column_names=header, skip_rows=1, block_size=block),
        parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.large_string() for h in header},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )


def read_csv(data: bytes, contract: Contract, name: str) -> pd.DataFrame:
    src = contract.source
    data, encoding = _text_bytes(data, src.encoding, name)
    if BLANK.fullmatch(data):  # e.g. UTF-16 holding only its byte-order mark
        return empty_frame([c.name for c in contract.columns])
    limit = max_record_bytes()
    header, header_bytes = _header(data, encoding, contract, name, limit)
    if not _LINE_BREAK.search(data):
        data += b"\n"  # a header without a line break: zero rows (Arrow wants the header line ended)
    # Arrow's block must hold the header and any one record: start at its default (or twice the
    # header), grow x8 while a record straddles blocks, up to the limit (a re-parse, rare).
    block = min(limit, max(_FIRST_BLOCK, 2 * header_bytes + 2))
    while True:
        bad: list[tuple[str, int, int]] = []
        try:
            table = _parse(data, header, encoding, src.delimiter, block, bad)
            break
        except pa.ArrowInvalid as e:
            if "straddl" in str(e) or "larger than block size" in str(e):
                if block < limit:
                    block = min(limit, block * 8)
                    continue
                line = _longest_record_line(data)
                raise SourceFileError(
                    f"{name}:{line}: a record starting on this line runs on for more than "
                    f'{human_bytes(limit)} (the {MAX_RECORD_ENV} limit): a quote (") opened there and '
                    f"never closed, or a value longer than the limit (raise {MAX_RECORD_ENV} if it is legal)"
                ) from None
            raise SourceFileError(f"{name}: cannot be parsed as CSV: {_arrow_reason(e)}") from None

    n_good, has_cr = table.num_rows, b"\r" in data
    n_breaks, nonblank, good_nb = _breaks(data), None, None
    if _n_lines(data, n_breaks) != 1 + n_good + len(bad):
        # Blank lines, or records spanning lines (quoted line breaks): find the non-blank lines,
        # and if the parsed records cover more than one each, count them on their values.
        nonblank = _nonblank_lines(data, has_cr)[1:]  # line 1 is the header
        if len(nonblank) != n_good + sum(_lines_of(text) for text, _, _ in bad):
            good_nb = _lines_per_record(table, has_cr)
    # large_string columns map to pandas' Arrow strings without a copy; self_destruct frees the
    # Arrow buffers as they are converted (peak memory ~1x the data, not 2x)
    frame = table.to_pandas(
        types_mapper={pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype()}.get,
        split_blocks=True,
        self_destruct=True,
    )
    del table

    lines, bad_lines, unclosed = _source_lines(
        data, n_breaks, has_cr, nonblank, good_nb, n_good, bad, encoding, src.delimiter, name
    )
    errors = [f"expected {exp} fields, found {act}" for _, exp, act in bad]
    raw_records = [text for text, _, _ in bad]
    if unclosed:
        reason = "the file ends inside a quoted value (a quote opened in this record is never closed)"
        if unclosed["parsed"]:  # it parsed with the right number of fields, but it is not a complete record
            frame, lines = frame.iloc[:-1], lines[:-1]
            errors.append(reason)
            raw_records.append(unclosed["text"])
            bad_lines.append(unclosed["line"])
        else:
            errors[-1] += f"; {reason}"
    frame[SOURCE_LINE] = lines.astype("int64")
    if errors:
        errs = pd.DataFrame(
            {
                PARSE_ERROR: pd.Series(errors, dtype="string"),
                RAW_RECORD: pd.Series(raw_records, dtype="string"),
                SOURCE_LINE: np.asarray(bad_lines, dtype="int64"),
            }
        )
        frame = pd.concat([frame, errs], ignore_index=True).sort_values(SOURCE_LINE, kind="stable")
        frame = frame.reset_index(drop=True)
    for h in header:
        frame[h] = frame[h].astype("string")
    return frame
