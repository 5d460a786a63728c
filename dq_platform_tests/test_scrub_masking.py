"""The `scrub` masking strategy: free text keeps its words, loses everything the PII gate would flag."""

import datetime as dt

import pandas as pd

from dq_platform.contract import CONTRACTS_DIR, load_contract
from dq_platform.engine.masking import MaskingKey, mask_frame
from dq_platform.engine.pii import raw_value_echo, scan_frame, scrub_text

CASES = {
    "password reset link sent to jane.doe42@mail.com": "password reset link sent to [email]",
    "session started from 203.0.113.7, retrying": "session started from [ipv4], retrying",
    "call 555-234-5678 555-234-5679 now": "call [phone] [phone] now",
    "card 4111 1111 1111 1111 declined": "card [card] declined",
    "ssn 123-45-6789.": "ssn [ssn].",
    "iban DE89370400440532013000 rejected": "iban [iban] rejected",
    "peer 2001:db8::1 closed": "peer [ipv6] closed",
    "a@b.co,b@c.de": "[email],[email]",
    "order 4111111111111112 shipped": "order 4111111111111112 shipped",  # 16 digits, Luhn-invalid: not a card
    "version 1.2.3.4.5 deployed": "version 1.2.3.4.5 deployed",  # a version string, not an address
    "User login failed": "User login failed",
}


def test_scrub_replaces_exactly_what_the_gate_flags_and_keeps_the_rest():
    raw = pd.Series(list(CASES) + [None], dtype="string")
    out = scrub_text(raw)
    assert out.tolist()[:-1] == list(CASES.values())
    assert pd.isna(out.iloc[-1])
    assert scan_frame(pd.DataFrame({"m": raw})) != {}  # the raw text would fail the gate
    assert scan_frame(pd.DataFrame({"m": out})) == {}  # the scrubbed text passes it


def test_masked_logs_scrub_messages_and_the_leak_gate_passes():
    logs = load_contract(CONTRACTS_DIR / "events_logs.yaml")
    cleaned = pd.DataFrame(
        {
            "timestamp": pd.Series(pd.to_datetime(["2025-01-01 10:00:00"] * 3), dtype="datetime64[ns]"),
            "service": pd.Series(["auth-service"] * 3, dtype="string"),
            "level": pd.Series(["INFO", "ERROR", "INFO"], dtype="string"),
            "message": pd.Series(
                ["reset sent to wei.chen7@corp.net", "User login failed", "from 198.51.100.23"], dtype="string"
            ),
            "user_id": pd.array([1234, 1234, None], dtype="Int64"),
        }
    )
    masked = mask_frame(cleaned, logs, MaskingKey("test-masking-key-0123456789abcdef"), dt.date(2025, 1, 1))
    assert masked["message"].tolist() == ["reset sent to [email]", "User login failed", "from [ipv4]"]
    assert masked["user_id"].iloc[0] == masked["user_id"].iloc[1] != "1234"
    assert scan_frame(masked[["service", "level", "message", "user_id"]]) == {}
    # an unchanged message without PII is not an "echo" of a raw value; the token still is checked
    assert raw_value_echo(masked, cleaned, logs) == {}
