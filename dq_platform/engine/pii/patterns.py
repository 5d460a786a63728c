"""The candidate patterns of each PII kind, as RE2 text for Arrow's vectorized regex kernels.

A pattern here only says "this could be one": every candidate is then validated (checksums.py,
phones.py) before it counts. RE2 has no look-arounds nor back-references, so word boundaries are
spelled as explicit ASCII classes and checked on the text either side of the candidate.

Kinds are tried in the order of ``KINDS`` at each position of a value (the leftmost candidate
wins); a span whose first kind fails validation is tried as each later kind it also fits, so a
German mobile grouped "0151 2345 6789" is not lost for having first looked like a short card.
"""

from __future__ import annotations

KINDS = ("email", "iban", "card", "ssn", "ipv6", "ipv4", "phone")

WORD = "0-9A-Za-z_"

# -- email: plus-addressing, any case; RFC 2606 reserved TLDs are never a person's address
EMAIL = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"
RESERVED_EMAIL = r"(?i)\.(?:invalid|test|example|localhost)$"

# -- IBAN: compact or grouped in fours (space or dash), either case; mod-97 + the registry's BBAN format
IBAN = r"[A-Za-z]{2}[0-9]{2}(?:[A-Za-z0-9]{11,30}|(?:[ \-][A-Za-z0-9]{4}){2,7}(?:[ \-][A-Za-z0-9]{1,3})?)"

# -- cards: contiguous, or grouped the ways cards are printed (4-4-4-4[-3], Amex 4-6-5, Diners 4-6-4)
CARD = (
    r"[0-9]{12,19}"
    r"|[0-9]{4}(?: [0-9]{4}){2,3}(?: [0-9]{1,3})?"
    r"|[0-9]{4}(?:-[0-9]{4}){2,3}(?:-[0-9]{1,3})?"
    r"|[0-9]{4}(?:\.[0-9]{4}){3}"
    r"|[0-9]{4}[ \-][0-9]{6}[ \-][0-9]{4,5}"
)
# Issuer identification ranges with their lengths (ISO/IEC 7812 as the networks publish them), over the
# digits only. A number that matches none (ISBN-13s start 978/979, most ids and tracking numbers) is no card.
CARD_ISSUERS = {
    "visa": r"4[0-9]{12}(?:[0-9]{3}){0,2}",
    "mastercard": r"(?:5[1-5][0-9]{2}|222[1-9]|22[3-9][0-9]|2[3-6][0-9]{2}|27[01][0-9]|2720)[0-9]{12}",
    "amex": r"3[47][0-9]{13}",
    "diners": r"3(?:0[0-59]|[689][0-9])[0-9]{11}(?:[0-9]{2,5})?",
    "jcb": r"35(?:2[89]|[3-8][0-9])[0-9]{12,15}",
    "discover": r"6(?:011|4[4-9][0-9]|5[0-9]{2})[0-9]{12,15}",
    "unionpay": r"62[0-9]{14,17}",
    "maestro": r"(?:5018|5020|5038|5893|6304|6759|676[1-3])[0-9]{8,15}",
    "mir": r"220[0-4][0-9]{12,15}",
    "rupay": r"(?:60[0-9]{2}|508[0-9]|8[12][0-9]{2})[0-9]{12}",
    "troy": r"9792[0-9]{12}",
    "dankort": r"5019[0-9]{12}",
}
CARD_DIGITS = "^(?:" + "|".join(CARD_ISSUERS.values()) + ")$"

# -- US SSN: AAA-GG-SSSS with one separator (dash, space or dot) used twice; SSA rules on the digits
SSN = r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{3}\.[0-9]{2}\.[0-9]{4}"
# area not 000, 666 or 9xx; group not 00; serial not 0000 (the rules python-stdnum's us.ssn applies)
SSN_DIGITS = (
    r"^(?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-5][0-9]|66[0-57-9]|6[7-9][0-9]|[78][0-9]{2})"
    r"(?:0[1-9]|[1-9][0-9])(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})$"
)

# -- IP addresses
OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
IPV4 = OCTET + r"(?:\." + OCTET + r"){3}"
_H = r"[0-9A-Fa-f]{1,4}"
IPV6 = "|".join(
    [  # leftmost-first: the forms holding more groups come first, so a span is never cut short
        rf"(?:{_H}:){{1,4}}:{IPV4}",
        rf"::(?:(?i:ffff)(?::0{{1,4}})?:)?{IPV4}",  # IPv4-mapped / -translated
        rf"(?:{_H}:){{7}}{_H}",
        rf"{_H}:(?::{_H}){{1,6}}",
        rf"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        rf"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        rf"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        rf"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        rf"(?:{_H}:){{1,6}}:{_H}",
        r"(?i:fe80):(?::[0-9A-Fa-f]{0,4}){0,4}%[0-9A-Za-z]+",
        rf":(?::{_H}){{1,7}}",  # ::1, ::ffff (bare "::" is not reported)
        rf"(?:{_H}:){{1,7}}:",
    ]
)

# -- phones: E.164 / international (+ or 00) and national forms; groups of digits separated by one
# space, dot, dash or slash, an area code in parentheses, "(0)" after the country code
_GROUP = r"(?:\([0-9]{1,5}\)|[0-9]{1,6})"
PHONE = r"(?:\+ ?|00 ?)?" + _GROUP + r"(?:[ .\-/]?(?:\(0\) ?)?" + _GROUP + r"){1,7}"

_PATTERNS = dict(zip(KINDS, (EMAIL, IBAN, CARD, SSN, IPV6, IPV4, PHONE)))
# Each kind's leftmost candidate, with the boundary before it (empty at the start): one small pattern
# per kind. (One alternation of all kinds with the text around it captured costs ~10x more in RE2.)
# The tail is captured too: its length gives the candidate's position (the submatch engine then runs
# on the matched span only, after RE2's DFA has found where it starts).
BOUNDED = {k: rf"(?s)(?:^|[^{WORD}])(?P<c>{p})(?P<t>[^{WORD}].*|$)" for k, p in _PATTERNS.items()}
# what a value needs before a kind's pattern is worth running (literal searches are memchr-fast)
PREFILTER = {
    "email": ("@", False),
    "ipv6": (r"[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:|::", True),
    "ipv4": (".", False),
    "iban": (r"[A-Za-z]{2}[0-9]{2}", True),
}
# the cheap test first: does the value hold any candidate at all (a DFA pass, no captures)
ANY = rf"(?:^|[^{WORD}])(?:" + "|".join(_PATTERNS.values()) + rf")(?:[^{WORD}]|$)"
FULL = {k: f"^(?:{p})$" for k, p in _PATTERNS.items()}
FULL_ANY = "^(?:" + "|".join(_PATTERNS.values()) + ")$"
# Cheaper still, first: what any candidate needs (an "@", 7 digits close together, the start of an
# IBAN, a dotted quad, colons between hex digits). Ordinary text with a short number stops here.
TRIGGER = (
    r"@|[0-9](?:[ .\-/()+]{0,3}[0-9]){6}|[A-Za-z]{2}[0-9]{2} ?[A-Za-z0-9]{4}"
    r"|[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|[0-9A-Fa-f]:[0-9A-Fa-f]{0,4}:|::"
)
# Whole values the detector would find nothing in, recognized in one pass: the masked layer's own
# shapes (an address in a reserved TLD, the `phone` strategy's 0XX-XXX-XXXX).
SAFE_WHOLE = (
    r"^(?:[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9\-]+\.)+(?i:invalid|test|example|localhost)|0[0-9]{2}-[0-9]{3}-[0-9]{4})$"
)
