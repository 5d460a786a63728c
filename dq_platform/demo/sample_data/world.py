"""The generated world's fixed constants: its "today", accepted input formats, shares of dirt and fault kinds."""

from __future__ import annotations

import numpy as np

# Fixed "today" of the generated world, so output does not depend on the machine clock;
# it is in the past, so clean dates always satisfy not_in_future.
END_DATE = np.datetime64("2025-12-31", "D")
# Injected future dates start here: far enough ahead to stay in the future for years.
FUTURE_START = np.datetime64("2035-01-01", "D")

# Input formats a cleaner must accept when a column does not list its own date_formats.
# Cosmetically dirty rows use the non-first ones; 03/04/2021 is US month/day.
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%Y%m%d")
DEFAULT_TIMESTAMP_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")

COSMETIC_SHARE = 0.20  # of clean rows
MISSING_SHARE = 0.06  # natural nulls in optional columns
NULL_TOKEN_SHARE = 0.2  # of natural nulls written as a null token ("NULL", "N/A", ...)

FAULT_KINDS = (
    "null_required",
    "duplicate_id",
    "non_numeric",
    "negative_number",
    "out_of_range",
    "bad_allowed_value",
    "bad_pattern",
    "bad_email",
    "bad_phone",
    "non_alphabetic",
    "non_alphanumeric",
    "bad_currency_code",
    "bad_uuid",
    "too_short",
    "too_long",
    "impossible_date",
    "malformed_date",
    "future_date",
    "bad_boolean",
    "birth_after_creation",
    "rule_violation",
)
