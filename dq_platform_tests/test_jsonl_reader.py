"""JSON-lines parsing (landing._read_jsonl via read_source): exact line numbers, nothing lost.

A bad line is never dropped: it is kept whole with its line number and reason and quarantined by the
rule engine; good lines around it keep their values whatever their JSON type.
"""

import json

import pandas as pd

from dq_platform.contract import CONTRACTS_DIR, load_contract
from dq_platform.engine import rules
from dq_platform.io.readers import read_source

LOGS = load_contract(CONTRACTS_DIR / "events_logs.yaml")


def log(i: int, **change) -> str:
    obj = {
        "timestamp": f"2025-01-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "service": "auth-service",
        "level": "INFO",
        "message": f"request {i} completed",
        "user_id": 1000 + i,
    }
    obj.update(change)
    return json.dumps({k: v for k, v in obj.items() if v is not ...})


def read(tmp_path, text: str | bytes, name="f.jsonl") -> pd.DataFrame:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return read_source(str(path), LOGS)


def test_bad_lines_are_kept_with_their_exact_line_numbers_among_thousands(tmp_path):
    lines = [log(i) for i in range(5000)]
    lines[1233] = lines[1233][:40]  # cut off
    lines[2500] = "[1, 2, 3]"  # JSON, but not an object
    lines[4999] = "{not json"
    lines.insert(3000, "")  # a blank line shifts what follows
    lines.insert(3001, "  \t ")
    frame = read(tmp_path, "\n".join(lines))  # no final line break
    assert len(frame) == 5000  # 5002 lines, two blank
    bad = frame[frame[rules.PARSE_ERROR].notna()]
    assert bad[rules.SOURCE_LINE].tolist() == [1234, 2501, 5002]
    assert bad[rules.RAW_RECORD].tolist() == [lines[1233], "[1, 2, 3]", "{not json"]
    assert "not an object" in bad[rules.PARSE_ERROR].iloc[1]
    good = frame[frame[rules.PARSE_ERROR].isna()]
    # each good line's values next to its own line number, before and after the blank lines
    probe = good.set_index(rules.SOURCE_LINE).loc[[1, 1233, 3000, 3003, 5001], "message"].tolist()
    assert probe == [
        "request 0 completed",
        "request 1232 completed",
        "request 2999 completed",
        "request 3000 completed",
        "request 4998 completed",
    ]
    assert frame[rules.SOURCE_LINE].is_unique and frame[rules.SOURCE_LINE].is_monotonic_increasing


def test_a_type_that_differs_between_lines_and_missing_fields_stay_values_for_the_rules(tmp_path):
    lines = [log(i) for i in range(200)]
    lines[150] = log(150, user_id="abc")  # a string among numbers: a valid JSON line, judged by the rules
    lines[151] = log(151, service=...)  # no service at all
    lines[152] = log(152, level="VERBOSE", extra={"nested": [1, 2]})
    frame = read(tmp_path, "\n".join(lines) + "\n")
    assert frame[rules.PARSE_ERROR].isna().all() and len(frame) == 200
    row = frame.set_index(rules.SOURCE_LINE)
    assert row.loc[151, "user_id"] == "abc" and row.loc[1, "user_id"] == "1000"
    assert pd.isna(row.loc[152, "service"]) and row.loc[153, "extra"] == '{"nested": [1, 2]}'

    result = rules.evaluate(frame.assign(**{rules.PARTITION: "f@0"}), LOGS)
    assert result.rows_in == len(result.cleaned) + len(result.quarantine) == 200
    q = result.quarantine.set_index(rules.SOURCE_LINE)[rules.FAILED_RULES].to_dict()
    assert q == {151: "user_id:type", 152: "service:required", 153: "level:allowed_values"}


def test_byte_order_mark_crlf_and_a_line_longer_than_a_parser_block(tmp_path):
    long_message = "x" * (3 << 20)
    text = (
        "\ufeff" + "\r\n".join([log(0), log(1, message=long_message), log(2)] + [log(i) for i in range(3, 60)]) + "\r\n"
    )
    frame = read(tmp_path, text.encode("utf-8"))
    assert frame[rules.PARSE_ERROR].isna().all()
    assert frame[rules.SOURCE_LINE].tolist() == list(range(1, 61))
    assert frame.loc[1, "message"] == long_message and frame.loc[0, "service"] == "auth-service"
