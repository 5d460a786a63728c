"""A contract's columns and row rules: types, formats, cleaning, missing values, PII and statistics.

`Column` is the unit the engine works column by column from (typing, cleaning, rules, masking,
profiling, statistical checks); `ExpressionRule` is a row rule across columns. `CLEANED_DTYPES`
is the dtype each column type has in the cleaned layer, which the engine produces and the gates
and anomaly rules rely on.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dq_platform.contract.base import NAME_RE, _Strict


class ColumnType(str, Enum):
    integer = "integer"
    float = "float"
    string = "string"
    date = "date"
    timestamp = "timestamp"
    boolean = "boolean"


# Exact dtype of each logical type in the cleaned frame (the gates check str(series.dtype)).
CLEANED_DTYPES: dict[ColumnType, str] = {
    ColumnType.integer: "Int64",
    ColumnType.float: "Float64",
    ColumnType.string: "string",
    ColumnType.date: "datetime64[ns]",
    ColumnType.timestamp: "datetime64[ns]",
    ColumnType.boolean: "boolean",
}


class Format(str, Enum):
    """Named value formats with a vectorized validator (and normalizer where one exists)."""

    email = "email"
    phone = "phone"  # North-American numbers, normalized to XXX-XXX-XXXX
    alphabetic = "alphabetic"  # letters, spaces, hyphens, apostrophes, periods
    alphanumeric = "alphanumeric"
    currency_code = "currency_code"  # ISO 4217 shape: three upper-case letters
    uuid = "uuid"


class Case(str, Enum):
    lower = "lower"
    upper = "upper"
    title = "title"
    keep = "keep"


class MissingPolicy(str, Enum):
    reject = "reject"  # a missing value quarantines the row
    keep = "keep"  # stays null in cleaned
    default = "default"  # replaced by `default`


class PiiCategory(str, Enum):
    identifier = "identifier"
    name = "name"
    email = "email"
    phone = "phone"
    address = "address"
    date_of_birth = "date_of_birth"
    national_id = "national_id"
    financial = "financial"
    other = "other"


class MaskingStrategy(str, Enum):
    token = "token"  # deterministic keyed token, joinable
    email = "email"  # token local part @ reserved domain: still shaped like an email
    phone = "phone"  # XXX-XXX-XXXX shape in a reserved (invalid) area code, optional last 4
    year = "year"  # date -> year
    age_band = "age_band"  # date of birth -> "30-39"
    city = "city"  # "street, city, ST 12345" -> city
    postcode_prefix = "postcode_prefix"  # "... 12345" -> "123**"
    redact = "redact"  # -> constant marker
    scrub = "scrub"  # free text: emails, phones, SSNs, cards, IBANs, IPs inside it -> [email], [phone], ...


class Cleaning(_Strict):
    trim: bool = True
    case: Case = Case.keep
    collapse_whitespace: bool = True


class Missing(_Strict):
    policy: MissingPolicy | None = None  # default: reject when required, keep otherwise
    default: Any = None

    @model_validator(mode="after")
    def _default_needs_value(self) -> Missing:
        if self.policy == MissingPolicy.default and self.default is None:
            raise ValueError("policy 'default' needs a 'default' value")
        return self


class Pii(_Strict):
    category: PiiCategory
    masking: MaskingStrategy = MaskingStrategy.token
    # Columns masked with the same key domain mask equal values to equal tokens, so a masked
    # customers.customer_id still joins a masked sales_transactions.customer_id.
    key_domain: str | None = None
    keep_last4: bool = True  # phone strategy only
    age_bands: list[int] = Field(default_factory=lambda: [18, 25, 35, 45, 55, 65], min_length=1)

    @model_validator(mode="after")
    def _no_digits_kept_of_ids(self) -> Pii:
        # `phone` masking with keep_last4 copies four real digits: fine for a phone number, a leak for
        # an SSN, a card, an IBAN or another national id (the last four are what identifies them)
        if (
            self.masking == MaskingStrategy.phone
            and self.keep_last4
            and self.category in (PiiCategory.national_id, PiiCategory.financial)
        ):
            raise ValueError(
                f"masking 'phone' keeps the last 4 digits (keep_last4 is on by default), which would publish "
                f"4 real digits of a {self.category.value} value (SSN, card, IBAN, national id): use masking "
                f"token or redact, or set keep_last4: false"
            )
        return self

    @field_validator("age_bands")
    @classmethod
    def _bands_ascending(cls, v: list[int]) -> list[int]:
        if any(b <= a for a, b in zip(v, v[1:])) or v[0] <= 0:
            raise ValueError("age_bands must be positive and strictly ascending, e.g. [18, 25, 35]")
        return v


class OutlierMethod(str, Enum):
    iqr = "iqr"  # outside [Q1 - k*IQR, Q3 + k*IQR]
    zscore = "zscore"  # |x - mean| / std > threshold
    mad = "mad"  # modified z-score 0.6745 * |x - median| / MAD > threshold (robust to the outliers)
    kmeans = "kmeans"  # 1-D k-means; rows in clusters holding < min_cluster_share of the rows


# Defaults per method; a parameter of another method is an error (a typo would otherwise be ignored).
_OUTLIER_DEFAULTS = {
    "iqr": {"k": 1.5},
    "zscore": {"threshold": 3.0},
    "mad": {"threshold": 3.5},
    "kmeans": {"k": 3, "min_cluster_share": 0.01},
}


class Outliers(_Strict):
    """One outlier method on a numeric column; its rate of flagged values is checked, rows are kept."""

    method: OutlierMethod
    max_rate: float = Field(ge=0, le=1)  # share of present values the method may flag
    k: float | None = Field(default=None, gt=0)  # iqr: fence multiplier; kmeans: number of clusters
    threshold: float | None = Field(default=None, gt=0)  # zscore / mad
    min_cluster_share: float | None = Field(default=None, gt=0, lt=1)  # kmeans
    log: bool = False  # judge sign(x)*log1p(|x|) instead of x (right-skewed amounts, incomes)

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") in _OUTLIER_DEFAULTS:
            defaults = _OUTLIER_DEFAULTS[data["method"]]
            # a null parameter is an absent one (a dumped contract reads back the same)
            data = {k: v for k, v in data.items() if not (v is None and k in ("k", "threshold", "min_cluster_share"))}
            for param in ("k", "threshold", "min_cluster_share"):
                if param in data and param not in defaults:
                    raise ValueError(
                        f"'{param}' does not apply to method '{data['method']}' (it takes {', '.join(defaults)})"
                    )
            data = {**defaults, **data}
        return data

    @model_validator(mode="after")
    def _kmeans_k(self) -> Outliers:
        if self.method == OutlierMethod.kmeans and (self.k != int(self.k) or not 2 <= self.k <= 20):
            raise ValueError("kmeans needs an integer k between 2 and 20 (clusters)")
        return self

    @property
    def id(self) -> str:
        return self.method.value


class Drift(_Strict):
    """Distribution drift against the previous good partition: PSI (all), KS statistic (numeric)."""

    psi: float = Field(default=0.2, gt=0)  # 0.1: some shift, 0.25: a large one (industry rule of thumb)
    ks_statistic: float | None = Field(default=None, gt=0, le=1)  # numeric columns only; default 0.1
    bins: int = Field(default=10, ge=2, le=100)  # numeric PSI: bins at the reference's quantiles


class Statistics(_Strict):
    """Declared statistical checks of one column (engine/statistics.py computes, defs/statistical_checks.py judges)."""

    outliers: list[Outliers] = Field(default_factory=list)
    drift: Drift | None = None
    severity: Literal["warn", "error"] = "warn"  # error: a blocking gate that holds publication
    # Below this many present values (either side, for drift) a check passes saying so; outliers are
    # still flagged. On a few dozen rows one flagged value is already > 1%, and PSI/KS measure
    # sampling noise (PSI's noise floor is ~bins/rows), not a change in the data.
    min_rows: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _something(self) -> Statistics:
        methods = [o.method.value for o in self.outliers]
        twice = sorted({m for m in methods if methods.count(m) > 1})
        if twice:
            raise ValueError(f"outlier method(s) listed twice: {', '.join(twice)}")
        if not self.outliers and self.drift is None:
            raise ValueError("declare outliers and/or drift (or remove the statistics section)")
        return self


class Column(_Strict):
    name: str = Field(pattern=NAME_RE)
    type: ColumnType
    description: str = ""
    required: bool = False
    # true: no value twice in a file; "dataset": nor a value another published file of the dataset has
    unique: bool | Literal["dataset"] = False
    min: float | str | None = None  # numbers, or ISO dates for date/timestamp columns
    max: float | str | None = None
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    pattern: str | None = None
    format: Format | None = None
    allowed_values: list[Any] | None = None
    date_formats: list[str] | None = None  # input formats accepted, tried in order
    not_in_future: bool = False
    cleaning: Cleaning = Field(default_factory=Cleaning)
    missing: Missing = Field(default_factory=Missing)
    pii: Pii | None = None
    statistics: Statistics | None = None

    @field_validator("unique", mode="before")
    @classmethod
    def _unique_scope(cls, v):
        if v is True or v is False or v == "dataset":
            return v
        raise ValueError(
            f"unique must be true (within each file), dataset (across the dataset's published "
            f"files too) or false, not {v!r}"
        )

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"pattern does not compile: {e}") from None
        return v

    @model_validator(mode="after")
    def _coherent(self) -> Column:
        numeric = self.type in (ColumnType.integer, ColumnType.float)
        temporal = self.type in (ColumnType.date, ColumnType.timestamp)
        for bound in ("min", "max"):
            v = getattr(self, bound)
            if v is None:
                continue
            if numeric and not isinstance(v, (int, float)):
                raise ValueError(f"{bound} must be a number for a {self.type.value} column")
            if temporal:
                import pandas as pd

                if pd.to_datetime(str(v), errors="coerce") is pd.NaT:
                    raise ValueError(f"{bound} must be an ISO date for a {self.type.value} column")
            if not numeric and not temporal:
                raise ValueError(f"{bound} applies to numeric and date columns, not {self.type.value}")
        if (self.min_length is not None or self.max_length is not None) and self.type != ColumnType.string:
            raise ValueError("min_length/max_length apply to string columns only")
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise ValueError("min_length is greater than max_length")
        if self.format is not None and self.type != ColumnType.string:
            raise ValueError("format applies to string columns only")
        if self.date_formats is not None and not temporal:
            raise ValueError("date_formats applies to date/timestamp columns only")
        if self.not_in_future and not temporal:
            raise ValueError("not_in_future applies to date/timestamp columns only")
        if self.pii is not None:
            m = self.pii.masking
            if m in (MaskingStrategy.year, MaskingStrategy.age_band) and not temporal:
                raise ValueError(f"masking '{m.value}' needs a date column")
            if (
                m
                in (
                    MaskingStrategy.email,
                    MaskingStrategy.phone,
                    MaskingStrategy.city,
                    MaskingStrategy.postcode_prefix,
                    MaskingStrategy.scrub,
                )
                and self.type != ColumnType.string
            ):
                raise ValueError(f"masking '{m.value}' needs a string column")
        if self.missing.policy == MissingPolicy.keep and self.required:
            raise ValueError("a required column cannot keep missing values (policy 'keep')")
        return self

    @model_validator(mode="after")
    def _statistics_fit_type(self) -> Column:
        s = self.statistics
        numeric = self.type in (ColumnType.integer, ColumnType.float)
        if s is not None and s.outliers and not numeric:
            raise ValueError(f"statistics.outliers apply to integer/float columns, not {self.type.value}")
        if s is not None and s.drift is not None:
            if self.type in (ColumnType.date, ColumnType.timestamp):
                raise ValueError(
                    f"statistics.drift applies to numeric and categorical (string/boolean) "
                    f"columns, not {self.type.value}"
                )
            if s.drift.ks_statistic is not None and not numeric:
                raise ValueError(
                    "statistics.drift.ks_statistic applies to numeric columns only (PSI judges categories)"
                )
        return self

    @property
    def missing_policy(self) -> MissingPolicy:
        if self.missing.policy is not None:
            return self.missing.policy
        return MissingPolicy.reject if self.required else MissingPolicy.keep


class ExpressionRule(_Strict):
    """A row rule across columns, evaluated vectorized with DataFrame.eval on typed values."""

    id: str = Field(pattern=NAME_RE)
    expression: str
    description: str = ""
