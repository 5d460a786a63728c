"""The PII scanner finds each kind, ignores near-misses, and never reports a raw value."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from dq_platform.contract import Contract
from dq_platform.engine.pii import KINDS, PiiScan, iban_valid, luhn_valid, raw_value_echo, scan_frame, shape_of


def kinds_in(value: str) -> set[str]:
    found = scan_frame(pd.DataFrame({"v": pd.Series([value], dtype="string")}))
    return set(found.get("v", {}))


POSITIVES = [
    ("email", "jane.doe@gmail.com"),
    ("email", "write to J.Smith+news@mail.co.uk today"),
    ("email", "a@x.test.com"),  # test.com is a real domain: only the TLD is reserved
    ("phone", "555-234-5678"),
    ("phone", "(555) 234-5678"),
    ("phone", "555.234.5678"),
    ("phone", "5552345678"),
    ("phone", "+1 555 234 5678"),
    ("phone", "call 1-800-555-0199 now"),
    ("ssn", "123-45-6789"),
    ("ssn", "SSN: 078-05-1120."),
    ("card", "4111 1111 1111 1111"),
    ("card", "4111-1111-1111-1111"),
    ("card", "5500005555555559"),
    ("card", "378282246310005"),  # Amex, 15 digits
    ("card", "card 4111111111111112 or 4012888888881881"),  # second candidate is the valid one
    ("iban", "DE89 3704 0044 0532 0130 00"),
    ("iban", "DE89370400440532013000"),
    ("iban", "pay GB82WEST12345698765432 now"),
    ("iban", "NO9386011117947"),  # shortest (15)
    ("iban", "de89370400440532013000"),  # lower case
    ("ipv4", "192.168.1.1"),
    ("ipv4", "from 10.0.0.255."),
    ("ipv4", "0.0.0.0"),
    ("ipv6", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("ipv6", "2001:db8::ff00:42:8329"),
    ("ipv6", "::1"),
    ("ipv6", "fe80::1%eth0"),
    ("ipv6", "::ffff:192.0.2.128"),
]

NEAR_MISSES = [
    "x@y.invalid",
    "someone@masked.invalid",
    "a@b.test",
    "c@d.example",
    "e@f.localhost",
    "MIXED@Case.INVALID",
    "0123456789abcdef@masked.invalid",
    "4111111111111111@masked.invalid",  # all-digit masked local part
    "not an email @ all",
    "user@localhost",
    "055-234-5678",
    "155-234-5678",
    "555-123-4567",  # area/exchange must start 2-9
    "012-345-6789",
    "012-345-5678",  # masked phone shapes
    "55-234-5678",
    "555-234-567",
    "15552345678900",  # (14 digits, Luhn-invalid)
    "000-12-3456",
    "666-12-3456",
    "900-12-3456",
    "123-00-6789",
    "123-45-0000",
    "123456789",
    "4111 1111 1111 1112",
    "4111111111111112",
    "411111111111",  # Luhn-invalid / too short
    "DE89 3704 0044 0532 0130 02",
    "DE89370400440532013001",
    "999.1.1.1",
    "256.1.1.1",
    "1.2.3",
    "1.2.3.4.5",
    "3.14159",
    "12:30:45",
    "::",
    "std::vector",
    "00:1A:2B:3C:4D:5E",
    "tk_5552345678abcdef01234567",
    "tk_4111111111111111abcd1234",
    "TX12345678",
    "[REDACTED]",
    "[UNKNOWN]",
    "627**",
    "18-24",
    "65+",
    "St. Louis",
    "2024-06-15",
    "",
]


@pytest.mark.parametrize("kind, value", POSITIVES)
def test_each_kind_is_detected(kind, value):
    assert kind in kinds_in(value)


@pytest.mark.parametrize("value", NEAR_MISSES)
def test_near_misses_are_not_pii(value):
    assert kinds_in(value) == set()


def test_counts_per_column_and_kind_only_nonzero():
    df = pd.DataFrame(
        {
            "contact": pd.Series(
                ["jane@gmail.com", "555-234-5678", "jane@gmail.com or 555-234-5678", None, "ok"], dtype="string"
            ),
            "notes": pd.Series(["nothing", "at all", None, "here", "ok"], dtype=object),
            "n": pd.Series([5552345678] * 5, dtype="Int64"),  # phone numbers stored as numbers
        }
    )
    assert scan_frame(df) == {"contact": {"email": 2, "phone": 2}, "n": {"phone": 5}}
    assert scan_frame(df, columns=["n"]) == {"n": {"phone": 5}}
    assert scan_frame(df, columns=["notes"]) == {}
    assert scan_frame(df.iloc[0:0]) == {}


def test_object_columns_with_mixed_values_are_scanned():
    df = pd.DataFrame({"mixed": pd.Series([123, "4111 1111 1111 1111", None, 3.5, "x@y.com"], dtype=object)})
    assert scan_frame(df) == {"mixed": {"email": 1, "card": 1}}


def test_reserved_addresses_are_exempt_but_their_neighbours_are_not():
    assert kinds_in("a@b.invalid, real@gmail.com") == {"email"}
    assert kinds_in("a@b.invalid 4111 1111 1111 1111") == {"card"}


def test_luhn_and_iban_checksums_vectorized():
    assert luhn_valid(pa.array(["4111111111111111", "4111111111111112", "79927398713", "0"])).tolist() == [
        True,
        False,
        True,
        True,
    ]
    assert iban_valid(
        pa.array(
            [
                "DE89370400440532013000",
                "GB82WEST12345698765432",
                "GB82WEST12345698765433",
                "FR1420041010050500013M02606",
                "DE89",
            ]
        )
    ).tolist() == [True, True, False, True, False]


def test_checksums_only_run_on_candidates_of_a_large_column():
    rng = np.random.default_rng(0)
    values = pd.Series(rng.choice(["active", "inactive", "tk_0a1b2c3d4e5f60718293a4b5"], 200_000), dtype="string")
    values.iloc[[17, 199_999]] = ["4111 1111 1111 1111", "DE89 3704 0044 0532 0130 00"]
    scan = PiiScan.of(pd.DataFrame({"v": values}))
    assert scan.counts == {"v": {"card": 1, "iban": 1}}
    assert scan.first_rows == {"v": {"card": [17], "iban": [199_999]}}


def test_pii_scan_metadata_never_carries_raw_values():
    raw = [
        "jane.doe@gmail.com",
        "555-234-5678",
        "123-45-6789",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "192.168.1.1",
        "2001:db8::1",
    ]
    df = pd.DataFrame({"leaky": pd.Series(["fine"] + raw, dtype="string"), "clean": pd.Series(["ok"] * 8)})
    scan = PiiScan.of(df, max_positions=2)
    assert not scan.clean and scan.total == 7
    assert scan.counts["leaky"] == {k: 1 for k in KINDS}
    assert scan.first_rows["leaky"]["email"] == [1] and scan.first_rows["leaky"]["ipv6"] == [7]
    assert scan.shapes["leaky"]["phone"] == ["999-999-9999"]
    assert scan.shapes["leaky"]["email"] == ["xxxx.xxx@xxxxx.xxx"]
    dumped = json.dumps(scan.to_metadata()) + scan.summary()
    for value in raw:
        assert value not in dumped
        for token in ("jane", "gmail", "5678", "6789", "1111", "DE89", "192", "db8"):
            assert token not in dumped
    assert "clean" in scan.to_metadata()["columns_scanned"]
    assert PiiScan.of(df[["clean"]]).clean


def test_shape_of_hides_every_letter_and_digit():
    assert shape_of(pd.Series(["Jane Doe", "Ünïcode 42", None])) == ["Xxxx Xxx", "Xxxxxxx 99", ""]
    assert shape_of(pd.Series(["a" * 50]), max_len=5) == ["xxxxx..."]


CONTRACT = Contract.model_validate(
    {
        "name": "people",
        "description": "test",
        "owner": "team:test",
        "source": {"pattern": "p/*.csv"},
        "columns": [
            {"name": "customer_id", "type": "integer", "pii": {"category": "identifier", "masking": "token"}},
            {"name": "email", "type": "string", "pii": {"category": "email", "masking": "email"}},
            {"name": "status", "type": "string"},
        ],
    }
)


def test_raw_value_echo_catches_unmasked_values_only():
    cleaned = pd.DataFrame(
        {
            "customer_id": pd.Series([1, 2, 3], dtype="Int64"),
            "email": pd.Series(["a@x.com", "b@x.com", None], dtype="string"),
            "status": pd.Series(["active"] * 3, dtype="string"),
        }
    )
    good = cleaned.assign(
        customer_id=pd.Series(["tk_a", "tk_b", "tk_c"], dtype="string"),
        email=pd.Series(["0@masked.invalid", "1@masked.invalid", None], dtype="string"),
    )
    assert raw_value_echo(good, cleaned, CONTRACT) == {}
    # a masking bug: ids passed through (as strings — compared in canonical form), one email leaked
    leaky = good.assign(
        customer_id=pd.Series(["1", "2", "tk_c"], dtype="string"),
        email=pd.Series(["0@masked.invalid", "a@x.com", None], dtype="string"),
    )
    assert raw_value_echo(leaky, cleaned, CONTRACT) == {"customer_id": 2, "email": 1}
    # a value equal to a raw value of ANOTHER row still counts: it is still a raw value
    shuffled = good.assign(email=pd.Series(["b@x.com", "0@masked.invalid", None], dtype="string"))
    assert raw_value_echo(shuffled, cleaned, CONTRACT) == {"email": 1}
    # non-PII columns are never compared (status is legitimately unchanged)
    assert "status" not in raw_value_echo(cleaned, cleaned, CONTRACT)
