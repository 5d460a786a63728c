"""Named value formats: one regex each, shared by the row rules, pandera and GX.

Kept in a module of its own (no heavy imports) so the hot path and the validation gates can't
drift apart on what "a valid email" means.
"""

FORMAT_PATTERNS: dict[str, str] = {
    "email": r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$",
    "phone": r"^\d{3}-\d{3}-\d{4}$",  # after normalization
    # Letters of the Latin (incl. accented and Vietnamese), Greek and Cyrillic scripts, as explicit
    # ranges: `[^\W\d_]` would push pandas onto Python's regex engine (~10x slower per column).
    # Accepts St. John, O'Neil, O’Neil, Mary-Ann, José, Nguyễn, Zoë. CJK names are not covered.
    "alphabetic": r"^[A-Za-zÀ-ÖØ-öø-ɏḀ-ỿͰ-ϿЀ-ӿ]+(?:[ '’.-]{1,2}[A-Za-zÀ-ÖØ-öø-ɏḀ-ỿͰ-ϿЀ-ӿ]+)*\.?$",
    "alphanumeric": r"^[A-Za-z0-9]+$",
    "currency_code": r"^[A-Z]{3}$",
    "uuid": r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
}

FORMAT_REASONS: dict[str, str] = {
    "email": "not a valid email address",
    "phone": "not a valid 10-digit phone number",
    "alphabetic": "contains characters other than letters, spaces, hyphens, apostrophes and periods",
    "alphanumeric": "contains characters other than letters and digits",
    "currency_code": "not a 3-letter currency code",
    "uuid": "not a UUID",
}

# Input date formats accepted when a contract does not list its own, tried in this order
# (US month/day before day.month.year: declare date_formats in the contract to change it).
# ISO 8601 is tried first (cleaning.py): no other default reads an ISO string differently, and
# timestamps otherwise pay eight failed format passes (11 s instead of 0.25 s per 300k values).
DEFAULT_DATE_FORMATS: list[str] = [
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d %b %Y",
    "%b %d, %Y",
    "%d-%b-%Y",
    "ISO8601",
]
