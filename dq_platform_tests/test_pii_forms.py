"""PII as real exports write it: each form of each kind is found, each look-alike is passed.

Phones of every region come from libphonenumber's own example numbers; IBANs of every registry
country are generated with python-stdnum's check digits; the detector must agree with both.
"""

from __future__ import annotations

import random
import re
import string

import pandas as pd
import phonenumbers as pn
import pytest
from stdnum import iban as stdnum_iban

from dq_platform import settings
from dq_platform.engine.pii import scan_frame, scrub_text


def kinds_in(value: str) -> set[str]:
    found = scan_frame(pd.DataFrame({"v": pd.Series([value], dtype="string")}))
    return set(found.get("v", {}))


FORMS = {
    "email": [
        "JANE.DOE@GMAIL.COM",
        "jane.doe+newsletter@mail.co.uk",
        "Write to O'Neil <o.neil-2@uni-wien.ac.at> today",
        "first_last@sub.domain.example.org",
    ],
    "phone": [
        "+44 20 7946 0958",  # GB, international
        "+442079460958",  # E.164
        "0044 20 7946 0958",  # 00 prefix
        "+44 (0)20 7946 0958",  # trunk zero in parentheses
        "020 7946 0958",  # GB national
        "+49 30 123456",  # DE
        "030 123456",  # DE national
        "+49 1512 3456789",  # DE mobile
        "0151 2345 6789",  # DE mobile grouped like a short card: still a phone
        "+33 1 23 45 67 89",  # FR
        "01.23.45.67.89",  # FR national, dots
        "+34 912 34 56 78",  # ES
        "612 34 56 78",  # ES national (no trunk prefix)
        "+91 98765 43210",  # IN
        "+61 2 1234 5678",  # AU
        "1800 123 456",  # AU toll free, written without the trunk prefix
        "+39 06 1234 5678",  # IT, leading zero kept
        "+1 (555) 234-5678",
        "555.234.5678",
        "tel:+1-201-555-0123",
        "call me on +44 7911 123456 tomorrow",
        "555-234-5678 555-234-5679",  # two side by side
    ],
    "ssn": ["123-45-6789", "123 45 6789", "SSN: 078-05-1120."],
    "card": [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5500005555555559",
        "3782 822463 10005",  # Amex 4-6-5
        "card no. 6011 1111 1111 1117 expired",
        "2221 0000 0000 0009",  # Mastercard 2-series
        "3530 1113 3330 0000",  # JCB
    ],
    "iban": [
        "DE89 3704 0044 0532 0130 00",
        "de89 3704 0044 0532 0130 00",
        "gb82west12345698765432",
        "IBAN: FR14 2004 1010 0505 0001 3M02 606, BIC ...",
        "NO93-8601-1117-947",
    ],
    "ipv4": ["192.168.1.1", "from 10.0.0.255.", "203.0.113.7:8080"],
    "ipv6": ["2001:DB8::FF00:42:8329", "::ffff:192.0.2.128", "[2001:db8::1]:443", "fe80::1%eth0", "::1"],
}

LOOK_ALIKES = [
    "978-3-16-148410-0",  # ISBN-13, hyphenated
    "9783161484100",  # ISBN-13, bare: no card issuer starts 97
    "ISBN 0-306-40615-2",  # ISBN-10
    "1Z999AA10123456784",  # UPS
    "7489 2345 6789",  # FedEx, grouped like a card
    "9400 1000 0000 0000 0000 00",  # USPS
    "00:1A:2B:3C:4D:5E",  # MAC
    "00-1A-2B-3C-4D-5E",
    "001a.2b3c.4d5e",
    "1.2.3.4.5",  # version
    "v2.10.4-rc1",
    "10.0.19041.1",  # Windows build
    "0.5.3.4.4050",
    "48.858844, 2.294351",  # coordinates
    "-33.868820,151.209290",
    "INV-2024-000123",
    "ORD000123456",
    "2024-06-15T12:30:45Z",
    "2024-06-15 12:30:45",
    "15.06.2024 12:30",
    "1717840245",  # Unix time
    "1783584000",  # Unix time in 2026: not an Italian personal number
    "1717840245123",
    "d41d8cd98f00b204e9800998ecf8427e",  # MD5
    "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",  # SHA-1, upper case
    "550e8400-e29b-41d4-a716-446655440000",
    "DE00 3704 0044 0532 0130 00",  # IBAN shape, bad checksum
    "GB00 4000 1234 5678 9010",  # its digits are no card either
    "DE89370400440532013001",
    "4111 1111 1111 1112",  # card shape, bad Luhn
    "9792 1234 5678 9012",  # Troy prefix, bad Luhn
    "1234 5678 9012 3456",  # no issuer
    "666-12-3456",  # SSN shapes outside the SSA rules
    "900-12-3456",
    "123-00-4567",
    "012-345-6789",  # the `phone` masking strategy's output
    "tk_0a1b2c3d4e5f60718293a4b5",
    "0123456789abcdef@masked.invalid",
    "$1,234,567.89",
    "35747485.83",  # an amount: one decimal point, though its 10 digits would be an Italian mobile
    "12:30:45",
]


@pytest.mark.parametrize("kind, value", [(k, v) for k, values in FORMS.items() for v in values])
def test_each_form_is_detected_as_its_kind(kind, value):
    assert kinds_in(value) == {kind}


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_each_look_alike_is_passed(value):
    assert kinds_in(value) == set()


def test_every_regions_example_numbers_are_phones_in_international_form():
    """libphonenumber's example fixed-line and mobile number of every region, E.164 and grouped."""
    values = []
    for region in sorted(pn.SUPPORTED_REGIONS):
        for kind in (pn.PhoneNumberType.FIXED_LINE, pn.PhoneNumberType.MOBILE):
            ex = pn.example_number_for_type(region, kind)
            if ex is not None and pn.is_valid_number(ex):
                values += [
                    pn.format_number(ex, f) for f in (pn.PhoneNumberFormat.E164, pn.PhoneNumberFormat.INTERNATIONAL)
                ]
    found = scan_frame(pd.DataFrame({"v": pd.Series(values, dtype="string")}))
    assert found == {"v": {"phone": len(values)}}


def _valid_iban(rng: random.Random, country: str, bban_format: str) -> str | None:
    """A random IBAN in the registry's BBAN format ("8!n10!n"), that python-stdnum calls valid."""
    pools = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}
    for _ in range(3000):  # some countries add national check digits: draw until stdnum accepts
        bban = "".join(
            "".join(rng.choice(pools[kind]) for _ in range(int(n)))
            for n, kind in re.findall(r"(\d+)!([nac])", bban_format)
        )
        value = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
        if stdnum_iban.is_valid(value):
            return value
    return None


def test_an_iban_of_every_registry_country_is_found_and_a_wrong_check_digit_is_not():
    rng = random.Random(3)
    registry = {p[1]: p[3]["bban"] for p in stdnum_iban._ibandb.prefixes if len(p[1]) == 2 and "bban" in p[3]}
    good = [v for v in (_valid_iban(rng, c, f) for c, f in sorted(registry.items())) if v]
    assert len(good) == len(registry) >= 80
    grouped = [" ".join(v[i : i + 4] for i in range(0, len(v), 4)) for v in good]
    bad = [v[:2] + f"{(int(v[2:4]) + 1) % 98 + 2:02d}" + v[4:] for v in good]
    bad = [v for v in bad if not stdnum_iban.is_valid(v)]
    frame = pd.DataFrame(
        {
            "compact": pd.Series(good, dtype="string"),
            "grouped": pd.Series(grouped, dtype="string"),
            "lower": pd.Series([v.lower() for v in grouped], dtype="string"),
        }
    )
    assert scan_frame(frame) == {k: {"iban": len(good)} for k in frame.columns}
    assert scan_frame(pd.DataFrame({"bad": pd.Series(bad, dtype="string")})) == {}


def test_numeric_columns_are_scanned_as_a_whole():
    cards = pd.Series([4111111111111111, 5500005555555559, 378282246310005, None], dtype="Int64")
    ssns = pd.Series([123456789, 78051120, 219099999], dtype="Int64")  # 078-05-1120 lost its leading zero
    phones = pd.Series([5552345678.0, 2015550123.0, 447911123456.0], dtype="Float64")
    market_caps = pd.Series([2015550123, 98123456789, 1234567, 4111111111111111], dtype="Int64")
    frame = pd.DataFrame({"card": cards, "ssn": ssns, "phone": phones.iloc[:3]})
    assert scan_frame(frame) == {"card": {"card": 3}, "ssn": {"ssn": 3}, "phone": {"phone": 3}}
    # one value of a kind in a column of ordinary numbers is not a column of that kind
    assert scan_frame(pd.DataFrame({"m": market_caps})) == {}
    assert scan_frame(pd.DataFrame({"price": pd.Series([19.99, 5.0, 1234.5])})) == {}


def test_phone_regions_come_from_settings(monkeypatch):
    assert kinds_in("030 123456") == {"phone"}  # DE is among the default regions
    monkeypatch.setenv("DQ_PHONE_REGIONS", "US")
    assert kinds_in("030 123456") == set()  # not a US number
    assert kinds_in("+49 30 123456") == {"phone"}  # international forms: every region
    monkeypatch.setenv("DQ_PHONE_REGIONS", "US,XX")
    with pytest.raises(settings.SettingsError, match="DQ_PHONE_REGIONS: unknown region code"):
        kinds_in("030 123456")


def test_scrub_replaces_what_the_gate_flags_in_every_form():
    values = [v for vs in FORMS.values() for v in vs] + LOOK_ALIKES
    raw = pd.Series(values, dtype="string")
    out = scrub_text(raw)
    assert scan_frame(pd.DataFrame({"m": out})) == {}
    for before, after, flagged in zip(
        values, out.tolist(), [True] * (len(values) - len(LOOK_ALIKES)) + [False] * len(LOOK_ALIKES)
    ):
        assert (before != after) == flagged, before
    assert out.tolist()[values.index("call me on +44 7911 123456 tomorrow")] == "call me on [phone] tomorrow"
    assert out.tolist()[values.index("555-234-5678 555-234-5679")] == "[phone] [phone]"


def test_undeclared_pii_in_a_text_column_of_large_numbers_counts_only_when_nearly_all_are_one_kind():
    """Market caps and volumes (raw text of 10-13 digit numbers) are not phones because some of them
    happen to be valid national numbers; a column of phone numbers written as digits still is."""
    import numpy as np
    import pyarrow as pa

    from dq_platform.engine.pii.undeclared import pii_shares

    rng = np.random.default_rng(7)
    caps = [str(int(v)) for v in rng.integers(10**9, 2 * 10**12, 400)] + ["3.74B"]
    assert "phone" not in pii_shares(pa.array(caps), np.ones(len(caps), dtype=np.int64))
    phones = [
        f"{area}{exchange}{line:04d}"
        for area, exchange, line in zip([415, 312, 646] * 100, [555] * 300, range(1000, 1300))
    ]
    phones = [p.replace("555", "234") for p in phones]  # 555 is reserved for fiction
    shares = pii_shares(pa.array(phones), np.ones(len(phones), dtype=np.int64))
    assert shares["phone"]["share"] >= 0.9
