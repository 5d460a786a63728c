"""A labelled set of PII values and look-alikes, generated from public formats (seeded, no data files).

Positives, one PII value per item, in the forms exports write them:
- phone: libphonenumber's example numbers of every region and number type (E.164, international,
  "00" prefix, RFC 3966 "tel:", national format for the DQ_PHONE_REGIONS regions, in a sentence),
  plus neighbours of each example that libphonenumber itself calls valid;
- iban: a random valid IBAN of every country in python-stdnum's copy of the SWIFT registry
  (compact / grouped in fours, upper / lower case, in a sentence);
- card: numbers in each issuer's range and length with a valid Luhn digit (contiguous, grouped);
- ssn, email (plus-addressing, upper case, sub-domains), ipv4, ipv6 (compressed, full, mapped).
Negatives: ISBN-10/13, parcel tracking numbers, MAC addresses, versions, coordinates, invoice and
order ids, timestamps and dates, hashes and UUIDs, IBAN and card shapes with a bad checksum, SSN
shapes outside the SSA rules, masked tokens, prices, postcodes.
"""

from __future__ import annotations

import random
import re
import string
from pathlib import Path

import phonenumbers as pn
import stdnum
from stdnum import ean, isbn
from stdnum import iban as stdnum_iban

from dq_platform.engine.pii.phones import phone_regions

_PHONE_TYPES = [
    pn.PhoneNumberType.FIXED_LINE,
    pn.PhoneNumberType.MOBILE,
    pn.PhoneNumberType.TOLL_FREE,
    pn.PhoneNumberType.VOIP,
]
_SENTENCES = [
    "please call {} after 5pm",
    "Contact: {}",
    "{} (office)",
    "customer wrote from {}; escalated",
    "value was {}.",
]


def _in_text(rng: random.Random, value: str) -> str:
    return rng.choice(_SENTENCES).format(value)


def phones(rng: random.Random) -> list[str]:
    out = []
    national_regions = set(phone_regions())
    for region in sorted(pn.SUPPORTED_REGIONS):
        for kind in _PHONE_TYPES:
            ex = pn.example_number_for_type(region, kind)
            if ex is None or not pn.is_valid_number(ex):
                continue
            numbers = [ex]
            # a neighbour of the example that libphonenumber also calls valid (same number plan)
            for _ in range(6):
                alt = pn.parse(pn.format_number(ex, pn.PhoneNumberFormat.E164), None)
                digits = list(str(alt.national_number))
                digits[-1] = str(rng.randrange(10))
                if len(digits) > 3:
                    digits[-2] = str(rng.randrange(10))
                alt.national_number = int("".join(digits))
                if alt != ex and pn.is_valid_number(alt):
                    numbers.append(alt)
                    break
            for num in numbers:
                e164 = pn.format_number(num, pn.PhoneNumberFormat.E164)
                intl = pn.format_number(num, pn.PhoneNumberFormat.INTERNATIONAL)
                out += [e164, intl, "00" + intl[1:], pn.format_number(num, pn.PhoneNumberFormat.RFC3966)]
                out.append(_in_text(rng, intl))
                if region in national_regions:
                    nat = pn.format_number(num, pn.PhoneNumberFormat.NATIONAL)
                    out += [nat, _in_text(rng, nat), nat.replace(" ", "-") if " " in nat else nat]
    return out


def _bban(rng: random.Random, spec: str) -> str:
    out = []
    for count, kind in re.findall(r"(\d+)!([nac])", spec):
        pool = {"n": string.digits, "a": string.ascii_uppercase, "c": string.ascii_uppercase + string.digits}[kind]
        out.append("".join(rng.choice(pool) for _ in range(int(count))))
    return "".join(out)


def iban_registry() -> dict[str, str]:
    """{country: BBAN format} from python-stdnum's copy of the SWIFT IBAN registry."""
    text = (Path(stdnum.__file__).parent / "iban.dat").read_text()
    return dict(re.findall(r'^([A-Z]{2}) .*?bban="([^"]+)"', text, flags=re.M))


def valid_iban(rng: random.Random, country: str, spec: str) -> str | None:
    for _ in range(5000):  # national check digits (BE, FR, ES, ...) make some draws invalid
        bban = _bban(rng, spec)
        value = country + stdnum_iban.calc_check_digits(country + "00" + bban) + bban
        if stdnum_iban.is_valid(value):
            return value
    return None


def group4(value: str, sep: str = " ") -> str:
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


def ibans(rng: random.Random) -> tuple[list[str], list[str]]:
    good, bad = [], []
    for country, spec in sorted(iban_registry().items()):
        for _ in range(3):
            value = valid_iban(rng, country, spec)
            if value is None:
                continue
            good += [value, group4(value), value.lower(), group4(value).lower(), _in_text(rng, "IBAN " + group4(value))]
            wrong = value[:2] + f"{(int(value[2:4]) + 1 + rng.randrange(90)) % 98 + 2:02d}" + value[4:]
            if not stdnum_iban.is_valid(wrong):
                bad += [wrong, group4(wrong)]
    return good, bad


ISSUERS = {  # prefix choices and lengths, as the networks publish them
    "visa": (["4"], [13, 16, 19]),
    "mastercard": (["51", "53", "55", "2221", "2500", "2720"], [16]),
    "amex": (["34", "37"], [15]),
    "diners": (["300", "305", "36", "38"], [14]),
    "jcb": (["3528", "3589"], [16]),
    "discover": (["6011", "644", "65"], [16]),
    "unionpay": (["62"], [16, 19]),
    "maestro": (["5018", "6304", "6759"], [12, 16, 19]),
    "mir": (["2200", "2204"], [16]),
    "rupay": (["6069", "5085", "8112"], [16]),
}


def luhn_complete(rng: random.Random, prefix: str, length: int, valid: bool = True) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    check = (10 - total % 10) % 10
    return body + str(check if valid else (check + 1 + rng.randrange(9)) % 10)


def cards(rng: random.Random) -> tuple[list[str], list[str]]:
    good, bad = [], []
    for prefixes, lengths in ISSUERS.values():
        for prefix in prefixes:
            for length in lengths:
                for _ in range(4):
                    num = luhn_complete(rng, prefix, length)
                    forms = [num, group4(num), group4(num, "-"), _in_text(rng, "card " + group4(num))]
                    if length == 15:
                        forms.append(f"{num[:4]} {num[4:10]} {num[10:]}")
                    good += forms
                    wrong = luhn_complete(rng, prefix, length, valid=False)
                    bad += [wrong, group4(wrong)]
    return good, bad


def ssns(rng: random.Random, n: int = 300) -> tuple[list[str], list[str]]:
    good, bad = [], []
    for _ in range(n):
        area = rng.choice([rng.randrange(1, 666), rng.randrange(667, 900)])
        group, serial = rng.randrange(1, 100), rng.randrange(1, 10000)
        a, g, s = f"{area:03d}", f"{group:02d}", f"{serial:04d}"
        good += [f"{a}-{g}-{s}", f"{a} {g} {s}", _in_text(rng, f"SSN {a}-{g}-{s}")]
    for a, g, s in [("000", "12", "3456"), ("666", "12", "3456"), ("912", "34", "5678"), ("123", "00", "4567")]:
        bad += [f"{a}-{g}-{s}", f"{a} {g} {s}"]
    bad += [f"{rng.randrange(1, 899):03d}-{rng.randrange(1, 99):02d}-0000" for _ in range(20)]
    return good, bad


_FIRST = ["jane", "john", "wei", "maria", "olu", "ana", "li", "jose", "priya", "sam"]
_LAST = ["doe", "smith", "chen", "garcia", "okafor", "silva", "nguyen", "patel", "muller", "kim"]
_DOMAINS = ["gmail.com", "mail.co.uk", "corp.example.org", "web.de", "yahoo.fr", "uni-wien.ac.at", "outlook.com"]


def emails(rng: random.Random, n: int = 400) -> list[str]:
    out = []
    for i in range(n):
        local = f"{rng.choice(_FIRST)}{rng.choice(['.', '_', '', '-'])}{rng.choice(_LAST)}{rng.randrange(100) if i % 3 else ''}"
        if i % 4 == 0:
            local += "+" + rng.choice(["news", "shop", "2024"])
        addr = f"{local}@{rng.choice(_DOMAINS)}"
        out += [addr, addr.upper() if i % 2 else addr.title(), _in_text(rng, addr)]
    return out


def ips(rng: random.Random, n: int = 300) -> tuple[list[str], list[str]]:
    v4, v6 = [], []
    for _ in range(n):
        a = ".".join(str(rng.randrange(256)) for _ in range(4))
        v4 += [a, _in_text(rng, a), f"{a}:8080"]
        groups = [f"{rng.randrange(65536):x}" for _ in range(8)]
        full = ":".join(groups)
        comp = ":".join(groups[:3]) + "::" + ":".join(groups[6:])
        v6 += [full, full.upper(), comp, f"::ffff:{a}", _in_text(rng, comp), f"[{comp}]:443"]
    return v4, v6


def negatives(rng: random.Random, n: int = 300) -> list[str]:
    out = []
    for _ in range(n):
        body = "978" + "".join(str(rng.randrange(10)) for _ in range(9))
        i13 = body + ean.calc_check_digit(body)
        out += [i13, isbn.format(i13), "ISBN " + isbn.format(i13)]
        b10 = "".join(str(rng.randrange(10)) for _ in range(9))
        out.append(isbn.format(b10 + isbn._calc_isbn10_check_digit(b10)))
        out.append("1Z" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16)))  # UPS
        fedex = str(rng.randrange(1, 10)) + "".join(str(rng.randrange(10)) for _ in range(11))
        out += [
            fedex,
            group4(fedex),
            "9400 1000 0000 " + " ".join(f"{rng.randrange(10000):04d}" for _ in range(2)) + " 00",
        ]
        mac = [f"{rng.randrange(256):02X}" for _ in range(6)]
        out += [":".join(mac), "-".join(mac), ".".join("".join(mac[i : i + 2]).lower() for i in (0, 2, 4))]
        out += [
            f"{rng.randrange(20)}.{rng.randrange(30)}.{rng.randrange(100)}",
            f"v{rng.randrange(5)}.{rng.randrange(20)}.{rng.randrange(50)}-rc1",
        ]
        out += [
            f"10.0.{rng.randrange(19000, 26000)}.{rng.randrange(2000)}",
            f"{rng.randrange(4)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(10)}.{rng.randrange(300, 9999)}",
        ]
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        out += [f"{lat:.6f}, {lon:.6f}", f"{lat:.4f},{lon:.4f}", f"POINT({lon:.5f} {lat:.5f})"]
        out += [
            f"INV-{rng.randrange(2015, 2027)}-{rng.randrange(100000):06d}",
            f"ORD{rng.randrange(10**9):09d}",
            f"#{rng.randrange(10**7)}",
        ]
        y, mo, d = rng.randrange(1990, 2030), rng.randrange(1, 13), rng.randrange(1, 29)
        hh, mm, ss = rng.randrange(24), rng.randrange(60), rng.randrange(60)
        out += [
            f"{y}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}Z",
            f"{y}-{mo:02d}-{d:02d} {hh:02d}:{mm:02d}:{ss:02d}",
            f"{d:02d}.{mo:02d}.{y}",
            f"{mo:02d}/{d:02d}/{y}",
            f"{d:02d}.{mo:02d}.{y} {hh:02d}:{mm:02d}",
            str(rng.randrange(10**9, 2 * 10**9)),
            str(rng.randrange(10**12, 2 * 10**12)),
        ]
        out += [
            "".join(rng.choice("0123456789abcdef") for _ in range(32)),
            "".join(rng.choice("0123456789abcdef") for _ in range(40)).upper(),
            "".join(rng.choice("0123456789abcdef") for _ in range(64)),
            "-".join("".join(rng.choice("0123456789abcdef") for _ in range(k)) for k in (8, 4, 4, 4, 12)),
        ]
        out += [
            f"${rng.randrange(10**6):,}.{rng.randrange(100):02d}",
            f"{rng.randrange(10000, 99999)}",
            f"{rng.uniform(0, 100):.2f}%",
            f"{rng.uniform(1e6, 1e9):.2f}",  # amounts and prices
            f"{rng.uniform(0, 1e4):.4f}",
        ]
        out += [
            f"tk_{rng.getrandbits(96):024x}",
            f"{rng.getrandbits(64):016x}@masked.invalid",
            f"0{rng.randrange(10):d}{rng.randrange(10)}-{rng.randrange(1000):03d}-{rng.randrange(10000):04d}",
        ]
    return out


def labelled_set(seed: int = 21) -> list[tuple[str, str]]:
    """[(value, kind or "none")], every category and the negatives."""
    rng = random.Random(seed)
    good_iban, bad_iban = ibans(rng)
    good_card, bad_card = cards(rng)
    good_ssn, bad_ssn = ssns(rng)
    v4, v6 = ips(rng)
    items = (
        [(v, "phone") for v in phones(rng)]
        + [(v, "iban") for v in good_iban]
        + [(v, "card") for v in good_card]
        + [(v, "ssn") for v in good_ssn]
        + [(v, "email") for v in emails(rng)]
        + [(v, "ipv4") for v in v4]
        + [(v, "ipv6") for v in v6]
        + [(v, "none") for v in bad_iban + bad_card + bad_ssn + negatives(rng)]
    )
    return items
