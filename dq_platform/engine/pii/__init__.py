"""PII detection: the leak gates, profiling's withheld values and the `scrub` strategy rest on it.

Candidates are found with vectorized RE2 patterns (Arrow compute) and only candidates are
validated, with the libraries made for it: libphonenumber's metadata (`phonenumbers`) compiled to
RE2 for phones, `python-stdnum` for IBAN country formats, issuer ranges + Luhn for cards, the SSA
rules for SSNs. docs/pii.md says what is detected, how, how well (measured) and what is not.

- patterns.py: the candidate pattern of each kind (and card issuer ranges, SSN rules)
- checksums.py: card, IBAN and SSN validation, vectorized
- phones.py: phone validation against libphonenumber's metadata; DQ_PHONE_REGIONS
- detector.py: `resolve` (row masks per kind, and the scrubbed text) and numeric columns
- scan.py: scan_frame / PiiScan for the gates, scrub_text, raw_value_echo, shape_of
"""

from dq_platform.engine.pii.checksums import iban_valid, luhn_valid
from dq_platform.engine.pii.detector import resolve
from dq_platform.engine.pii.patterns import KINDS
from dq_platform.engine.pii.phones import phone_regions
from dq_platform.engine.pii.scan import PiiScan, column_hits, raw_value_echo, scan_frame, scrub_text, shape_of

__all__ = [
    "KINDS",
    "PiiScan",
    "column_hits",
    "iban_valid",
    "luhn_valid",
    "phone_regions",
    "raw_value_echo",
    "resolve",
    "scan_frame",
    "scrub_text",
    "shape_of",
]
