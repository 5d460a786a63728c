"""PII through the real pipeline: undeclared PII warns on raw and is still blocked on masked; numeric
columns are scanned; a digit-keeping masking of an id column is refused when the contract loads."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from dq_platform.contract import ContractError, parse_contract

UNDECLARED = """
name: undeclared
description: A contract that forgot to declare its contact column and its card column as PII.
owner: team:test
source: {pattern: "undeclared/*.csv"}
columns:
  - {name: id, type: integer, required: true, unique: true}
  - {name: contact, type: string}
  - {name: card_no, type: integer}
  - {name: status, type: string}
"""


def _check(instance, asset: str, check: str):
    key = dg.AssetCheckKey(dg.AssetKey(asset), check)
    return instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]


def test_undeclared_email_column_warns_on_raw_and_the_masked_gate_still_blocks_it(make_project, instance):
    project = make_project(UNDECLARED)
    emails = [f"Person.{i}+orders@Mail-{i % 7}.com" for i in range(40)]
    frame = pd.DataFrame(
        {
            "id": [str(i) for i in range(40)],
            "contact": emails,
            "card_no": ["7"] * 40,
            "status": ["active", "closed"] * 20,
        }
    )
    out = project.ingest(instance, "undeclared", project.write_csv("undeclared/u.csv", frame))
    checks = {f"{a}.{c}": (p, sev) for a, c, p, sev in out.checks}
    assert checks["raw_undeclared.raw_has_no_undeclared_pii"] == (False, "WARN")
    assert checks["masked_undeclared.masked_has_no_pii"][0] is False
    assert not out.success and project.wh().table("masked_undeclared") is None
    record = _check(instance, "raw_undeclared", "raw_has_no_undeclared_pii")
    data = record.event.dagster_event.event_specific_data
    assert "column 'contact' is not declared PII but 100% of its values hold a email" in data.description
    assert "pii: {category: email, masking: email}" in data.description
    meta = data.metadata["undeclared_pii"].data
    assert meta == {"contact": {"kind": "email", "share": 1.0, "suggested": "pii: {category: email, masking: email}"}}
    text = str(data) + str(_check(instance, "masked_undeclared", "masked_has_no_pii").event)
    assert not any(e.split("@")[0] in text for e in emails)  # shares and kinds, never a value


def test_integer_column_of_card_numbers_fails_the_masked_gate(make_project, instance):
    project = make_project(UNDECLARED)
    cards = ["4111111111111111", "5500005555555559", "4012888888881881", "6011111111111117"]
    frame = pd.DataFrame(
        {"id": ["1", "2", "3", "4"], "contact": ["ok"] * 4, "card_no": cards, "status": ["active"] * 4}
    )
    out = project.ingest(instance, "undeclared", project.write_csv("undeclared/c.csv", frame))
    checks = {f"{a}.{c}": (p, sev) for a, c, p, sev in out.checks}
    assert checks["masked_undeclared.masked_has_no_pii"][0] is False
    assert project.wh().table("masked_undeclared") is None
    text = str(_check(instance, "masked_undeclared", "masked_has_no_pii").event)
    assert "card_no/card" in text and "4111" not in text and "5559" not in text
    raw = _check(instance, "raw_undeclared", "raw_has_no_undeclared_pii").event.dagster_event.event_specific_data
    assert "column 'card_no' is not declared PII but 100% of its values hold a card" in raw.description


def test_clean_file_passes_the_raw_check(make_project, instance):
    project = make_project(UNDECLARED)
    frame = pd.DataFrame({"id": ["1", "2"], "contact": ["call me", "no"], "card_no": ["7", "12"], "status": ["a", "b"]})
    out = project.ingest(instance, "undeclared", project.write_csv("undeclared/ok.csv", frame))
    checks = {f"{a}.{c}": p for a, c, p, _ in out.checks}
    assert checks["raw_undeclared.raw_has_no_undeclared_pii"] is True
    assert checks["masked_undeclared.masked_has_no_pii"] is True


KEEPS_DIGITS = """name: ids
description: An SSN masked like a phone number.
owner: team:test
source: {pattern: "ids/*.csv"}
columns:
  - {name: id, type: integer}
  - name: ssn
    type: string
    pii: {category: national_id, masking: phone}
"""


@pytest.mark.parametrize("category", ["national_id", "financial"])
def test_keep_last4_on_an_id_column_is_refused_with_file_and_line(category):
    text = KEEPS_DIGITS.replace("national_id", category)
    with pytest.raises(ContractError) as err:
        parse_contract(text, "contracts/ids.yaml")
    assert str(err.value).startswith("contracts/ids.yaml:9: columns[1] (ssn).pii: masking 'phone' keeps the last 4")
    assert "use masking token or redact, or set keep_last4: false" in str(err.value)
    # hashing every digit is fine, and so is keep_last4 on a phone number
    parse_contract(text.replace("masking: phone}", "masking: phone, keep_last4: false}"))
    parse_contract(text.replace(category, "phone"))
