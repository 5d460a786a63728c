"""Reading source files: as received, exact source lines, bad rows kept, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from dq_platform.contract import parse_contract
from dq_platform.engine import rules
from dq_platform.io import landing, readers


def contract(fmt="csv", delimiter=","):
    return parse_contract(f"""
name: t
description: t
owner: team:t
source: {{pattern: "*", format: {fmt}, delimiter: "{delimiter}"}}
columns: [{{name: a, type: string}}, {{name: b, type: string}}]
""")


def read(tmp_path, data: bytes, fmt="csv", **kw):
    p = tmp_path / f"f.{fmt}"
    p.write_bytes(data)
    return readers.read_source(str(p), contract(fmt, **kw))


def test_values_are_kept_as_text_exactly(tmp_path):
    df = read(tmp_path, b"a,b\n007, x \n1e3,\n")
    assert df["a"].tolist() == ["007", "1e3"]
    assert df["b"].tolist() == [" x ", ""]
    assert df[rules.SOURCE_LINE].tolist() == [2, 3]
    assert df[rules.SOURCE_FILE].iloc[0] == "f.csv"
    assert len(df[rules.CHECKSUM].iloc[0]) == 64


def test_quoted_newlines_blank_lines_and_bad_rows_keep_exact_lines(tmp_path):
    df = read(tmp_path, b'a,b\n1,x\n\n2,"multi\nline"\n3,y,EXTRA\n4\n5,z\n')
    assert df[rules.SOURCE_LINE].tolist() == [2, 4, 6, 7, 8]
    assert df["b"].tolist()[:2] == ["x", "multi\nline"]
    bad = df[df[rules.PARSE_ERROR].notna()]
    assert bad[rules.SOURCE_LINE].tolist() == [6, 7]
    assert bad[rules.RAW_RECORD].tolist() == ["3,y,EXTRA", "4"]  # nothing lost


def test_utf8_bom_and_latin1(tmp_path):
    assert read(tmp_path, "a,b\n1,café\n".encode("utf-8-sig"))["b"].tolist() == ["café"]
    assert read(tmp_path, "a,b\n1,café\n".encode("latin-1"))["b"].tolist() == ["café"]


def test_truncated_last_line_is_kept(tmp_path):
    df = read(tmp_path, b"a,b\n1,x\n2")
    assert df[rules.SOURCE_LINE].tolist() == [2, 3]
    assert df[rules.PARSE_ERROR].notna().tolist() == [False, True]


def test_wrong_delimiter_is_a_clear_error(tmp_path):
    with pytest.raises(
        landing.SourceFileError, match=r"f.csv:1: header has one column but contains ';': wrong delimiter"
    ):
        read(tmp_path, b"a;b\n1;2\n")


def test_binary_file_is_a_clear_error(tmp_path):
    with pytest.raises(landing.SourceFileError, match="f.csv:1: binary content"):
        read(tmp_path, b"\x00\x01\x02\xff\xfe" * 100)


def test_empty_file_gives_zero_rows(tmp_path):
    assert len(read(tmp_path, b"")) == 0


def test_jsonl_with_a_broken_line(tmp_path):
    df = read(tmp_path, b'{"a": "1", "b": 2}\n\n{"a": broken\n{"a": "3", "b": null}\n', fmt="jsonl")
    assert df[rules.SOURCE_LINE].tolist() == [1, 3, 4]
    assert df["b"].tolist()[0] == "2"
    assert df[rules.PARSE_ERROR].notna().tolist() == [False, True, False]


def test_parquet(tmp_path):
    p = tmp_path / "f.parquet"
    pd.DataFrame({"a": [1, 2], "b": ["x", None]}).to_parquet(p)
    df = readers.read_source(str(p), contract("parquet"))
    assert df["a"].tolist() == ["1", "2"] and df[rules.SOURCE_LINE].tolist() == [1, 2]


def test_partition_key_and_archive_roundtrip(tmp_path):
    src = tmp_path / "in" / "x.csv"
    src.parent.mkdir()
    src.write_bytes(b"a,b\n1,2\n")
    s = landing.describe("t", src)
    assert s.partition_key == f"x.csv@{s.sha256[:12]}"
    assert landing.split_partition_key(s.partition_key) == ("x.csv", s.sha256[:12])
    uri = landing.archive(s, str(tmp_path / "wh"))
    src.unlink()
    found = landing.find_archived(str(tmp_path / "wh"), "t", s.partition_key)
    assert found == uri
    assert readers.read_source(found, contract())["a"].tolist() == ["1"]
    # partitions registered before keys were shortened (16 hex) keep working (issue #19, finding 7)
    old = f"x.csv@{s.sha256[:16]}"
    assert landing.split_partition_key(old) == ("x.csv", s.sha256[:16])
    assert landing.find_archived(str(tmp_path / "wh"), "t", old) == uri


def test_an_old_16_hex_partition_still_counts_as_the_same_content(instance):
    import dagster as dg

    from dq_platform.contract import load_contracts
    from dq_platform.defs.partitions import registered_content

    customers = {c.name: c for c in load_contracts()}["customers"]
    sha = "0123456789abcdef" + "0" * 48
    instance.add_dynamic_partitions("customers_files", [f"old.csv@{sha[:16]}"])
    known = registered_content(instance, customers)
    assert known == {sha[:12]: f"old.csv@{sha[:16]}"}
    assert isinstance(instance, dg.DagsterInstance)


def test_bad_rows_in_a_file_without_multiline_records_keep_their_lines(tmp_path):
    df = read(tmp_path, b"a,b\n1,x\n2,y,EXTRA\n3,z\n4\n5,w\n")
    assert df[rules.SOURCE_LINE].tolist() == [2, 3, 4, 5, 6]
    assert df[rules.PARSE_ERROR].notna().tolist() == [False, True, False, True, False]
    assert df["a"].tolist()[::2] == ["1", "3", "5"]
