"""Bad files never stop the platform and never lose data (issue #3, item 4).

Each kind of bad file goes through the real `customers` job. It ends either in a successful run
(what parses is processed, what doesn't is quarantined with its line number) or in a clearly
failed run whose error names the file, the line and why. Whatever happens, the landing file is
untouched and an identical copy sits in the content-addressed archive, listed as a partition
that can be re-run; and the next file still flows. More variants of each kind are checked on the
reader alone at the end (fast).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dq_platform.engine import rules
from dq_platform.io import landing, readers
from dq_platform.names import CHECKSUM_TAG, SOURCE_URI_TAG
from dq_platform_tests.test_pipeline import check_results, customer_frame

GOOD = customer_frame(10)  # customer_id 1..10, lines 2..11
COLUMNS = list(GOOD.columns)
HEADER = ",".join(COLUMNS).encode()
REQUIRED = [
    "customer_id",
    "first_name",
    "last_name",
    "email",
    "date_of_birth",
    "address",
    "account_status",
    "created_date",
]
ROWS_EMPTY = {"in": 0, "cleaned": 0, "quarantined": 0, "masked": 0}
ROWS_CLEAN = {"in": 10, "cleaned": 10, "quarantined": 0, "masked": 10}


def csv_bytes(frame: pd.DataFrame = GOOD, encoding: str = "utf-8", **kw) -> bytes:
    return frame.to_csv(index=False, **kw).encode(encoding)


def ingest(project, instance, name: str, data: bytes):
    """Drop `data` in the landing zone as customers/<name>, run it, check the original is kept."""
    path = project.landing / "customers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    mtime = path.stat().st_mtime_ns
    out = project.ingest(instance, "customers", path)
    assert_original_kept(project, instance, path, data, mtime, out)
    return out


def assert_original_kept(project, instance, path: Path, data: bytes, mtime: int, out) -> None:
    # untouched in the landing zone
    assert path.read_bytes() == data
    assert path.stat().st_mtime_ns == mtime
    # an identical copy in the content-addressed archive
    sha = hashlib.sha256(data).hexdigest()
    archived = Path(project.warehouse) / "_sources" / "customers" / sha / path.name
    assert archived.read_bytes() == data
    # listed: registered as a partition keyed by its content, which finds the archived copy
    assert out.partition == f"{path.name}@{sha[:12]}"
    assert out.partition in instance.get_dynamic_partitions("customers_files")
    assert landing.find_archived(project.warehouse, "customers", out.partition) == archived.resolve().as_uri()
    # and the run's audit tags name the original
    tags = instance.get_run_by_id(out.run_id).tags
    assert tags[CHECKSUM_TAG] == sha and tags[SOURCE_URI_TAG] == path.resolve().as_uri()


def stored(project, table: str, partition: str) -> pd.DataFrame:
    return project.wh().read(table, partition=partition).sort_values(rules.SOURCE_LINE).reset_index(drop=True)


def assert_failed_before_raw(project, out, error: str) -> None:
    """A clearly failed run: the raw step stopped with `error` (file:line: why), nothing written."""
    assert not out.success
    assert out.error == f"raw_customers: dq_platform.io.landing.SourceFileError: {error}"
    assert out.rows == {}
    for table in ("raw_customers", "cleaned_customers", "quarantine_customers", "masked_customers"):
        assert out.partition not in project.wh().row_counts(table)


def assert_nothing_to_lose(project, out) -> None:
    """A successful run with zero rows; only the row-count bounds check (contract: min 1 row,
    a non-blocking check) says the file was empty."""
    assert out.success, out.error
    assert out.rows == ROWS_EMPTY
    assert check_results(out)["raw_customers.dagster_row_count_bounds_check"] is False
    assert out.failed_gates == ["raw_customers.dagster_row_count_bounds_check: Value `0` is less than 1"]
    assert out.warnings[-1] == (  # said for every contract, with or without row-count bounds
        "cleaned_customers.file_has_declared_columns_and_rows: the file holds no rows (empty, or a header only): "
        "nothing to publish"
    )
    assert project.wh().row_counts("raw_customers").get(out.partition, 0) == 0


# -- empty files ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("data", [HEADER + b"\n", HEADER], ids=["header-line", "header-without-line-break"])
def test_header_only_file_is_a_successful_run_with_zero_rows(project, instance, data):
    assert_nothing_to_lose(project, ingest(project, instance, "header_only.csv", data))


@pytest.mark.slow
def test_zero_byte_file_is_a_successful_run_with_zero_rows(project, instance):
    assert_nothing_to_lose(project, ingest(project, instance, "zero.csv", b""))


@pytest.mark.slow
def test_whitespace_only_file_is_a_successful_run_with_zero_rows(project, instance):
    assert_nothing_to_lose(project, ingest(project, instance, "blank.csv", b"  \n\r\n\t \n\n"))


# -- missing and extra columns -----------------------------------------------------------


@pytest.mark.slow
def test_missing_required_column_quarantines_every_row_with_its_line(project, instance):
    out = ingest(project, instance, "no_email.csv", csv_bytes(GOOD.drop(columns=["email"])))
    assert not out.success  # 100% quarantined: the blocking failure-rate gate stops publication
    assert out.rows == {"in": 10, "cleaned": 0, "quarantined": 10}
    assert out.failed_gates == [
        "cleaned_customers.failure_rate_within_threshold: 10 of 10 rows failed row "
        "rules (100.00%); warn above 5%, review above 10%, error above 25%.",
        "cleaned_customers.file_has_declared_columns_and_rows: the file lacks 1 declared column(s): email; "
        "publication held (`on_missing_column: block`): send the file again with the columns, "
        "or set `on_missing_column: warn` in the contract to publish them empty",
    ]
    assert out.error == f"clean_customers: {out.partition} held by {out.failed_gates[0]}"
    q = stored(project, "quarantine_customers", out.partition)
    assert q[rules.SOURCE_LINE].tolist() == list(range(2, 12))
    assert set(q[rules.FAILED_RULES]) == {"email:present; email:required"}
    assert q["first_name"].tolist() == GOOD["first_name"].tolist()  # every received value kept
    assert out.partition not in project.wh().row_counts("masked_customers")


@pytest.mark.slow
def test_missing_optional_column_holds_the_file_by_default(project, instance):
    """Issue #17: a declared column missing from a file is a blocking gate, not a silent null column."""
    out = ingest(project, instance, "no_income.csv", csv_bytes(GOOD.drop(columns=["income"])))
    assert not out.success
    assert out.rows == {"in": 10, "cleaned": 10, "quarantined": 0}  # every row kept, nothing published
    assert out.failed_gates == [
        "cleaned_customers.file_has_declared_columns_and_rows: the file lacks 1 declared column(s): income; "
        "publication held (`on_missing_column: block`): send the file again with the columns, "
        "or set `on_missing_column: warn` in the contract to publish them empty"
    ]
    assert out.error == f"clean_customers: {out.partition} held by {out.failed_gates[0]}"
    assert out.partition not in project.wh().row_counts("masked_customers")


@pytest.mark.slow
def test_missing_optional_column_flows_with_the_column_empty_under_warn(make_project, instance):
    from dq_platform.settings import CONTRACTS_DIR

    text = (CONTRACTS_DIR / "customers.yaml").read_text()
    project = make_project(text.rstrip("\n") + "\non_missing_column: warn\n")
    out = ingest(project, instance, "no_phone.csv", csv_bytes(GOOD.drop(columns=["phone"])))
    assert out.success, out.error
    assert out.rows == ROWS_CLEAN
    assert out.warnings == [
        "cleaned_customers.file_has_declared_columns_and_rows: the file lacks 1 declared column(s): phone; "
        "published with the column(s) empty (`on_missing_column: warn`)"
    ]
    assert "phone" not in stored(project, "raw_customers", out.partition).columns  # as received
    cleaned = stored(project, "cleaned_customers", out.partition)
    assert cleaned["phone"].isna().all()
    assert cleaned[rules.SOURCE_LINE].tolist() == list(range(2, 12))


@pytest.mark.slow
def test_extra_column_is_kept_in_raw_and_left_out_of_cleaned(project, instance):
    out = ingest(project, instance, "extra.csv", csv_bytes(GOOD.assign(loyalty_tier="gold")))
    assert out.success, out.error
    assert out.rows == ROWS_CLEAN
    assert stored(project, "raw_customers", out.partition)["loyalty_tier"].eq("gold").all()
    assert "loyalty_tier" not in stored(project, "cleaned_customers", out.partition).columns


# -- delimiter and encoding --------------------------------------------------------------


@pytest.mark.slow
def test_wrong_delimiter_is_a_clear_failure(project, instance):
    out = ingest(project, instance, "semicolons.csv", csv_bytes(sep=";"))
    assert_failed_before_raw(
        project,
        out,
        "semicolons.csv:1: header has one column but contains ';': wrong delimiter (the contract expects ',')",
    )


@pytest.mark.slow
def test_utf8_with_bom(project, instance):
    out = ingest(project, instance, "bom.csv", csv_bytes(encoding="utf-8-sig"))
    assert out.success, out.error
    assert out.rows == ROWS_CLEAN
    raw = stored(project, "raw_customers", out.partition)
    assert raw["customer_id"].tolist() == GOOD["customer_id"].tolist()  # first column not renamed by the BOM
    assert raw[rules.SOURCE_LINE].tolist() == list(range(2, 12))


def names_with_accents(n: int) -> pd.DataFrame:
    frame = customer_frame(n)
    frame.loc[frame.index[-2], "last_name"] = "Müller"
    frame.loc[frame.index[-1], "first_name"] = "José"
    return frame


@pytest.mark.slow
@pytest.mark.parametrize("n", [10, 1000], ids=["in-the-probed-head", "past-the-first-64KiB"])
def test_latin1(project, instance, n):
    frame = names_with_accents(n)
    out = ingest(project, instance, "latin1.csv", csv_bytes(frame, encoding="latin-1"))
    assert out.success, out.error
    assert out.rows == {"in": n, "cleaned": n, "quarantined": 0, "masked": n}
    raw = stored(project, "raw_customers", out.partition)
    assert raw["last_name"].iloc[-2] == "Müller" and raw["first_name"].iloc[-1] == "José"
    cleaned = stored(project, "cleaned_customers", out.partition)
    assert cleaned["last_name"].iloc[-2] == "Müller" and cleaned["first_name"].iloc[-1] == "José"
    assert cleaned[rules.SOURCE_LINE].iloc[-1] == n + 1


# -- broken records ----------------------------------------------------------------------


@pytest.mark.slow
def test_truncated_last_line_is_quarantined_with_its_line(project, instance):
    data = csv_bytes() + b"11,alice,smith,alice.11@exa"  # cut off: no line break, 4 of 10 fields
    out = ingest(project, instance, "cut.csv", data)
    assert out.success, out.error  # 1 of 11 rows (9%): above warn (5%), below error (25%)
    assert out.rows == {"in": 11, "cleaned": 10, "quarantined": 1, "masked": 10}
    assert check_results(out)["cleaned_customers.failure_rate_within_threshold"] is False  # a WARN
    q = stored(project, "quarantine_customers", out.partition)
    assert q[rules.SOURCE_LINE].tolist() == [12]
    assert q[rules.RAW_RECORD].tolist() == ["11,alice,smith,alice.11@exa"]  # nothing lost
    assert q[rules.PARSE_ERROR].tolist() == ["expected 10 fields, found 4"]
    failed = q[rules.FAILED_RULES].iloc[0].split("; ")
    # the line could not be parsed; its columns are empty, so required-value rules fail too
    assert failed[0] == rules.PARSE_RULE and set(failed[1:]) <= {f"{c}:required" for c in REQUIRED}
    assert stored(project, "cleaned_customers", out.partition)[rules.SOURCE_LINE].tolist() == list(range(2, 12))


@pytest.mark.slow
def test_file_cut_inside_a_quoted_value_is_quarantined_with_its_line(project, instance):
    # the last field is quoted and the file ends before its closing quote: the field count is
    # right, but the record is not complete
    frame = GOOD[
        [
            "customer_id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "date_of_birth",
            "income",
            "account_status",
            "created_date",
            "address",
        ]
    ]
    data = (
        csv_bytes(frame)
        + b'11,alice,smith,a11@example.com,(555) 234-0011,1980-01-15,41000,active,2020-03-01,"11 Main St,\nSpri'
    )
    out = ingest(project, instance, "cut_in_quotes.csv", data)
    assert out.success, out.error
    assert out.rows == {"in": 11, "cleaned": 10, "quarantined": 1, "masked": 10}
    q = stored(project, "quarantine_customers", out.partition)
    assert q[rules.SOURCE_LINE].tolist() == [12]
    assert q[rules.PARSE_ERROR].tolist() == [
        "the file ends inside a quoted value (a quote opened in this record is never closed)"
    ]
    assert q[rules.RAW_RECORD].tolist() == [data.split(b"\n", 11)[-1].decode()]
    assert q[rules.FAILED_RULES].iloc[0].startswith(rules.PARSE_RULE)


@pytest.mark.slow
def test_quoted_values_with_line_breaks_keep_exact_lines(project, instance):
    frame = customer_frame(10)
    frame.loc[2, "address"] = "3 Main St\nApt 4\nSpringfield, IL 62704"  # record on lines 4-6
    lines = csv_bytes(frame).split(b"\n")
    # a blank line (8) and a broken line (10) after it
    data = b"\n".join(lines[:7] + [b"", lines[7], b"x,broken"] + lines[8:])
    out = ingest(project, instance, "multiline.csv", data)
    assert out.success, out.error
    assert out.rows == {"in": 11, "cleaned": 10, "quarantined": 1, "masked": 10}
    raw = stored(project, "raw_customers", out.partition)
    assert raw["address"].iloc[2] == "3 Main St\nApt 4\nSpringfield, IL 62704"
    cleaned = stored(project, "cleaned_customers", out.partition)
    assert cleaned[rules.SOURCE_LINE].tolist() == [2, 3, 4, 7, 9, 11, 12, 13, 14, 15]
    assert cleaned["customer_id"].tolist() == list(range(1, 11))
    q = stored(project, "quarantine_customers", out.partition)
    assert q[rules.SOURCE_LINE].tolist() == [10] and q[rules.RAW_RECORD].tolist() == ["x,broken"]


# -- not text at all -----------------------------------------------------------------------


@pytest.mark.slow
def test_binary_file_is_a_clear_failure(project, instance):
    data = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    assert b"\x00" in data
    line = data[: data.index(b"\x00")].count(b"\n") + 1
    out = ingest(project, instance, "random.csv", data)
    assert_failed_before_raw(project, out, f"random.csv:{line}: binary content (NUL bytes), not a text file")


@pytest.mark.slow
def test_gzip_file_named_csv_is_a_clear_failure(project, instance):
    out = ingest(project, instance, "export.csv", gzip.compress(csv_bytes()))
    assert_failed_before_raw(
        project, out, "export.csv:1: gzip-compressed data, not a CSV text file: decompress it first"
    )


# -- larger than memory allows in one piece ------------------------------------------------


@pytest.mark.slow
def test_file_above_the_one_piece_limit_is_a_clear_failure_and_reruns_once_allowed(project, instance, monkeypatch):
    # UTF-16 (with its byte-order mark) cannot be cut into chunks: the one file read whole
    data = b"\xff\xfe" + csv_bytes(customer_frame(100)).decode().encode("utf-16-le")
    monkeypatch.setenv("DQ_MAX_SOURCE_BYTES", "4K")
    out = ingest(project, instance, "big.csv", data)
    assert_failed_before_raw(
        project,
        out,
        f"big.csv: {len(data) / 1024:.1f} KiB is above the 4.0 KiB one-piece "
        f"limit (DQ_MAX_SOURCE_BYTES); split the file (each part becomes its own partition)",
    )
    # the original is retrievable: with a higher limit the partition re-runs from the archive
    # alone (landing file gone), as from the UI
    (project.landing / "customers" / "big.csv").unlink()
    monkeypatch.setenv("DQ_MAX_SOURCE_BYTES", str(len(data)))
    job = project.defs.resolve_job_def("customers_pipeline")
    assert job.execute_in_process(instance=instance, partition_key=out.partition, raise_on_error=False).success
    assert project.wh().row_counts("masked_customers")[out.partition] == 100


def test_size_is_checked_before_any_byte_is_read(tmp_path, customers, monkeypatch):
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes())
    real = readers.filesystem

    class NoReads:
        def __init__(self, fs):
            self.fs = fs

        def get_file_info(self, p):
            return self.fs.get_file_info(p)

        def open_input_stream(self, p):
            raise AssertionError("the file was opened")

    monkeypatch.setattr(readers, "filesystem", lambda uri: (NoReads(real(uri)[0]), real(uri)[1]))
    monkeypatch.setenv("DQ_MAX_SOURCE_BYTES", "100")
    with pytest.raises(landing.SourceFileError, match=r"^big.csv: 1\.\d KiB is above the 100 bytes one-piece limit"):
        readers.read_source(str(path), customers)


def test_one_piece_limit_defaults_to_a_quarter_of_physical_memory(monkeypatch):
    monkeypatch.delenv("DQ_MAX_SOURCE_BYTES", raising=False)
    assert readers.max_source_bytes() == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 16
    for value, expected in [("1000", 1000), ("512M", 512 << 20), ("2G", 2 << 30), ("1.5GiB", 3 << 29)]:
        monkeypatch.setenv("DQ_MAX_SOURCE_BYTES", value)
        assert readers.max_source_bytes() == expected
    monkeypatch.setenv("DQ_MAX_SOURCE_BYTES", "lots")
    with pytest.raises(ValueError, match="DQ_MAX_SOURCE_BYTES='lots'"):
        readers.max_source_bytes()


# -- other files keep flowing --------------------------------------------------------------


@pytest.mark.slow
def test_bad_files_do_not_stop_the_next_file(project, instance):
    binary = np.random.default_rng(3).integers(0, 256, 2048, dtype=np.uint8).tobytes() + b"\x00"
    bad = ingest(project, instance, "garbage.csv", binary)
    assert not bad.success and "garbage.csv:" in bad.error
    good = ingest(project, instance, "next.csv", csv_bytes())
    assert good.success, good.error
    assert good.rows == ROWS_CLEAN
    assert project.wh().row_counts("masked_customers") == {good.partition: 10}
    assert project.wh().read("customers_by_status")["customers"].sum() == 10


# -- exact lines where quoting is irregular (reader level) -------------------------------

# -- the reader alone: more variants of the kinds above ----------------------------------


def read(tmp_path, data: bytes, contract=None) -> pd.DataFrame:
    from dq_platform.contract import parse_contract

    contract = contract or parse_contract(
        '{name: t, description: t, owner: "team:t", source: {pattern: "*"}, '
        "columns: [{name: a, type: string}, {name: b, type: string}]}"
    )
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    return readers.read_source(str(path), contract)


@pytest.mark.parametrize(
    "data",
    [HEADER + b"\r\n\r\n", b"\xef\xbb\xbf" + HEADER + b"\n", b"\xef\xbb\xbf", b"\xff\xfe", "\n \n".encode("utf-16")],
    ids=["header-and-blank-lines", "bom-and-header", "bom-only", "utf16-bom-only", "utf16-blank"],
)
def test_more_files_with_nothing_to_read(tmp_path, customers, data):
    assert len(read(tmp_path, data, customers)) == 0


def test_trailing_delimiter_is_an_extra_unnamed_column(tmp_path, customers):
    df = read(tmp_path, b"".join(line + b",\n" for line in csv_bytes().splitlines()), customers)
    assert df["unnamed_11"].tolist() == [""] * 10 and df["customer_id"].tolist() == GOOD["customer_id"].tolist()


def test_repeated_column_name_is_a_clear_error(tmp_path, customers):
    data = csv_bytes(GOOD.rename(columns={"phone": "email"}))  # which "email" is the email?
    with pytest.raises(
        landing.SourceFileError,
        match=r"^f.csv:1: the header names a column more than once: "
        r"'email' \(columns 4, 5\)",
    ):
        read(tmp_path, data, customers)


def test_utf8_file_with_latin1_lines_appended_keeps_both_readable(tmp_path, customers):
    frame = customer_frame(10)
    frame.loc[0, "last_name"] = "Øre"  # UTF-8
    late = customer_frame(2, start=11).assign(first_name=["José", "Zoë"])
    df = read(tmp_path, csv_bytes(frame) + csv_bytes(late, encoding="latin-1", header=False), customers)
    assert df["last_name"].iloc[0] == "Øre" and df["first_name"].tolist()[-2:] == ["José", "Zoë"]
    assert df[rules.SOURCE_LINE].tolist() == list(range(2, 14))


def test_latin1_broken_line_past_the_probe_is_quarantined_not_fatal(tmp_path, customers):
    # the parser cannot hand a non-UTF-8 bad row to the reader; the file is re-read as cp1252
    data = csv_bytes(customer_frame(1000)) + "1001,José\n".encode("latin-1")
    df = read(tmp_path, data, customers)
    bad = df[df[rules.PARSE_ERROR].notna()]
    assert bad[rules.SOURCE_LINE].tolist() == [1002] and bad[rules.RAW_RECORD].tolist() == ["1001,José"]
    assert len(df) == 1001


def test_cp1252_only_characters(tmp_path, customers):
    frame = customer_frame(3).assign(address="1 Main St – “The Corner”, Springfield €")
    df = read(tmp_path, csv_bytes(frame, encoding="cp1252"), customers)
    assert df["address"].tolist() == ["1 Main St – “The Corner”, Springfield €"] * 3


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_utf16_and_utf32_with_bom_as_spreadsheet_tools_write_them(tmp_path, customers, encoding):
    frame = names_with_accents(10)
    data = frame.to_csv(index=False).encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    df = read(tmp_path, data, customers)
    assert df["last_name"].iloc[-2] == "Müller" and df[rules.SOURCE_LINE].tolist() == list(range(2, 12))
    assert df["customer_id"].tolist() == frame["customer_id"].tolist()


def test_utf16_without_bom_is_named_as_such(tmp_path, customers):
    with pytest.raises(landing.SourceFileError, match="binary content .*looks like UTF-16 without a byte-order mark"):
        read(tmp_path, csv_bytes(encoding="utf-16-le"), customers)


@pytest.mark.parametrize(
    "data, what",
    [
        (b"PK\x03\x04" + bytes(100), "a ZIP archive (or an Excel .xlsx workbook)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "an OLE2 document (e.g. an Excel .xls workbook)"),
        (b"PAR1" + bytes(100), "a Parquet file"),
    ],
)
def test_other_binary_formats_are_named(tmp_path, customers, data, what):
    with pytest.raises(landing.SourceFileError, match=f"^f.csv:1: {re.escape(what)}, not a CSV text file"):
        read(tmp_path, data, customers)


@pytest.mark.parametrize(
    "data, lines",
    [
        (b'a,b\n1,O"Brien\n\n2,x\n3,y\n', [2, 4, 5]),  # a literal quote inside an unquoted value
        (b'a,b\n1,O"Brien\n2,"x\ny"\n3,y\n', [2, 3, 5]),
        (b"a,b\r1,x\r\r2,y\r", [2, 4]),  # classic Mac line ends
        (b'a,b\r\n1,"x\r\n\r\ny"\r\n\r\n2,y\r\n', [2, 6]),  # a blank line inside a value and one between records
    ],
)
def test_exact_lines_when_quotes_or_line_ends_are_irregular(tmp_path, data, lines):
    df = read(tmp_path, data)
    assert df[rules.SOURCE_LINE].tolist() == lines and df[rules.PARSE_ERROR].isna().all()


def test_quote_never_closed_swallows_nothing_silently(tmp_path):
    df = read(tmp_path, b'a,b\n1,x\n2,"Brien\n3,y\n4,z\n')
    assert df[rules.SOURCE_LINE].tolist() == [2, 3]
    assert df[rules.PARSE_ERROR].isna().tolist() == [True, False]
    assert df[rules.RAW_RECORD].iloc[1] == '2,"Brien\n3,y\n4,z'


def test_quote_never_closed_in_a_large_file_is_one_quarantined_record_with_its_line(tmp_path):
    body = b"".join(b"%d,value %d\n" % (i, i) for i in range(3, 150_000))  # 2 MiB after the open quote
    df = read(tmp_path, b'a,b\n1,x\n2,"Brien\n' + body)
    assert df[rules.SOURCE_LINE].tolist() == [2, 3]
    assert df[rules.PARSE_ERROR].isna().tolist() == [True, False]
    assert "never closed" in df[rules.PARSE_ERROR].iloc[1]


def test_record_above_the_limit_names_its_line_and_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("DQ_MAX_RECORD_BYTES", "1M")
    body = b"".join(b"%d,value %d\n" % (i, i) for i in range(3, 150_000))
    with pytest.raises(
        landing.SourceFileError,
        match=r"^f.csv:3: a record starting on this line runs on for more than 1.0 MiB \(the DQ_MAX_RECORD_BYTES limit\): "
        r"a quote \(\"\) opened there and never closed",
    ):
        read(tmp_path, b'a,b\n1,x\n2,"Brien\n' + body)


# -- headers and records of any legal size (issue #17, findings 1, 2 and 7) ---------------------

CANARY_EMAIL = "noah.rossi.canary@example.org"


def test_header_longer_than_64_kib_is_read_whole(tmp_path, customers):
    extra = [f"extra_column_number_{i}" for i in range(9_990)]  # ~250 KB of header
    lines = csv_bytes().splitlines()
    data = b"\n".join(
        [lines[0] + "".join("," + x for x in extra).encode()] + [line + b",v" * len(extra) for line in lines[1:]]
    )
    df = read(tmp_path, data + b"\n", customers)
    assert len(df) == 10 and df[rules.PARSE_ERROR].isna().all()  # no row taken for a parse error
    assert df["customer_id"].tolist() == GOOD["customer_id"].tolist()
    assert df[extra[-1]].eq("v").all() and df[rules.SOURCE_LINE].tolist() == list(range(2, 12))


def test_a_legal_5_mb_quoted_value_is_read_with_the_lines_after_it(tmp_path):
    df = read(tmp_path, b'a,b\n1,"' + b"y" * 5_000_000 + b'"\n2,z\n3,w\n')
    assert df["a"].tolist() == ["1", "2", "3"] and df[rules.SOURCE_LINE].tolist() == [2, 3, 4]
    assert df[rules.PARSE_ERROR].isna().all() and len(df["b"].iloc[0]) == 5_000_000


def test_header_above_the_limit_is_a_clear_error_on_line_1(tmp_path, monkeypatch):
    monkeypatch.setenv("DQ_MAX_RECORD_BYTES", "64K")
    with pytest.raises(landing.SourceFileError, match=r"^f.csv:1: the header line is .* above the 64.0 KiB limit"):
        read(tmp_path, b"a,b," + b",".join(b"c%d" % i for i in range(20_000)) + b"\n1,2\n")


@pytest.mark.parametrize(
    "data", [b"x" * 5_000_000, b"1017," + CANARY_EMAIL.encode() + b"\n2,x\n"], ids=["5mb-no-newline", "no-header"]
)
def test_a_file_without_a_header_is_a_clear_error_that_quotes_nothing(tmp_path, data):
    with pytest.raises(landing.SourceFileError) as e:
        read(tmp_path, data)
    assert str(e.value) == (
        "f.csv:1: the header names none of the contract's 2 columns "
        "(a file without a header line, or a file of another dataset?)"
    )


def test_arrow_errors_lose_the_record_text_they_end_with():
    from dq_platform.io.csv_reader import _arrow_reason

    err = ValueError(f"CSV parse error: Expected 2 columns, got 3: 1,{CANARY_EMAIL},x")
    assert _arrow_reason(err) == "CSV parse error: Expected 2 columns, got 3"


def test_an_unlocatable_row_is_named_by_its_shape_not_its_text():
    import numpy as np

    from dq_platform.io.csv_reader import _source_lines

    data = b"a,b\n1,x\n"
    with pytest.raises(landing.SourceFileError) as e:  # a bad row Arrow reported that is not in the bytes
        _source_lines(data, 2, False, None, None, 1, [(f"9,{CANARY_EMAIL},z", 2, 3)], "utf-8", ",", "f.csv")
    assert CANARY_EMAIL not in str(e.value) and "3 fields where 2 were expected" in str(e.value)
    assert np is not None
