"""The data contract: one YAML file per dataset, parsed into a strict pydantic model.

Everything downstream (assets, rules, cleaning, masking, checks, gold) is derived from this
model, so a contract that loads is a contract the platform can run. A malformed one fails here,
with the file, the line, the field and the reason, before Dagster sees it.
"""

from __future__ import annotations

import datetime
import re
from contextvars import ContextVar
from enum import Enum
from pathlib import Path
from typing import Any, Literal
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic import AfterValidator

CONTRACTS_DIR = Path(__file__).parent.parent / "contracts"

NAME_RE = r"^[a-z][a-z0-9_]*$"


class ContractError(ValueError):
    """A contract that cannot be used; its message names file, line, field and reason."""


class ColumnType(str, Enum):
    integer = "integer"
    float = "float"
    string = "string"
    date = "date"
    timestamp = "timestamp"
    boolean = "boolean"


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Cleaning(_Strict):
    trim: bool = True
    case: Case = Case.keep
    collapse_whitespace: bool = True


class Missing(_Strict):
    policy: MissingPolicy | None = None  # default: reject when required, keep otherwise
    default: Any = None

    @model_validator(mode="after")
    def _default_needs_value(self) -> "Missing":
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
_OUTLIER_DEFAULTS = {"iqr": {"k": 1.5}, "zscore": {"threshold": 3.0}, "mad": {"threshold": 3.5},
                     "kmeans": {"k": 3, "min_cluster_share": 0.01}}


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
                    raise ValueError(f"'{param}' does not apply to method '{data['method']}' "
                                     f"(it takes {', '.join(defaults)})")
            data = {**defaults, **data}
        return data

    @model_validator(mode="after")
    def _kmeans_k(self) -> "Outliers":
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
    """Declared statistical checks of one column (statistics.py computes, statistical_checks.py judges)."""

    outliers: list[Outliers] = Field(default_factory=list)
    drift: Drift | None = None
    severity: Literal["warn", "error"] = "warn"  # error: a blocking gate that holds publication
    # Below this many present values (either side, for drift) a check passes saying so; outliers are
    # still flagged. On a few dozen rows one flagged value is already > 1%, and PSI/KS measure
    # sampling noise (PSI's noise floor is ~bins/rows), not a change in the data.
    min_rows: int = Field(default=100, ge=1)

    @model_validator(mode="after")
    def _something(self) -> "Statistics":
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
        raise ValueError(f"unique must be true (within each file), dataset (across the dataset's published "
                         f"files too) or false, not {v!r}")

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
    def _coherent(self) -> "Column":
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
            if m in (MaskingStrategy.email, MaskingStrategy.phone, MaskingStrategy.city,
                     MaskingStrategy.postcode_prefix, MaskingStrategy.scrub) and self.type != ColumnType.string:
                raise ValueError(f"masking '{m.value}' needs a string column")
        if self.missing.policy == MissingPolicy.keep and self.required:
            raise ValueError("a required column cannot keep missing values (policy 'keep')")
        return self

    @model_validator(mode="after")
    def _statistics_fit_type(self) -> "Column":
        s = self.statistics
        numeric = self.type in (ColumnType.integer, ColumnType.float)
        if s is not None and s.outliers and not numeric:
            raise ValueError(f"statistics.outliers apply to integer/float columns, not {self.type.value}")
        if s is not None and s.drift is not None:
            if self.type in (ColumnType.date, ColumnType.timestamp):
                raise ValueError(f"statistics.drift applies to numeric and categorical (string/boolean) "
                                 f"columns, not {self.type.value}")
            if s.drift.ks_statistic is not None and not numeric:
                raise ValueError("statistics.drift.ks_statistic applies to numeric columns only (PSI judges categories)")
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


class Level(_Strict):
    """Share of quarantined rows: above `warn` a WARN check, above `review` the file waits for a
    human decision (human_review.py), above `error` a blocking gate rejects it."""

    warn: float = Field(ge=0, le=1)
    review: float | None = Field(default=None, ge=0, le=1)
    error: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Level":
        if self.warn > self.error:
            raise ValueError("warn must not exceed error")
        if self.review is not None and not self.warn <= self.review < self.error:
            raise ValueError("review must lie between warn and error (warn <= review < error)")
        return self


class Review(_Strict):
    """Human review of files whose failure rate is above failure_rate.review but not above error."""

    # seed 001's --no-review: publish without waiting (DQ_REVIEW_AUTO_APPROVE=1 does it platform-wide)
    auto_approve: bool = False
    # who may decide (emails or names); empty: anyone who can launch the review job
    reviewers: list[str] = Field(default_factory=list)


class RowCount(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


ENV_NAME_RE = r"^[A-Z_][A-Z0-9_]*$"


def _check_cron(v: str | None) -> str | None:
    from dagster._utils.schedules import is_valid_cron_string

    if v is not None and not is_valid_cron_string(v):
        raise ValueError(f"'{v}' is not a cron expression (5 fields, e.g. '*/10 * * * *')")
    return v


def _check_env_name(v: str | None) -> str | None:
    if v is not None and not re.fullmatch(ENV_NAME_RE, v):
        # the value is not repeated: it may be the secret itself (a URL with its password, a key)
        raise ValueError("must name an environment variable (upper case, digits, '_'; e.g. DQ_ERP_DB_URL): "
                         "the value itself (a URL, a key) belongs in the environment, not in the contract")
    return v


class HttpPagination(_Strict):
    """Page-numbered pagination: pages are requested until a short or empty page, or max_pages."""

    page_param: str = "page"
    per_page_param: str = "per_page"
    per_page: int = Field(default=100, ge=1, le=10_000)
    first_page: int = Field(default=1, ge=0)
    max_pages: int = Field(default=100, ge=1)


class HttpSource(_Strict):
    """A JSON API pulled with GET (http_source.py): each response is a JSON list of records."""

    base_url: str | None = None  # the default endpoint, e.g. https://api.coingecko.com/api/v3
    base_url_env: str | None = None  # an environment variable's name; wins over base_url when set
    path: str = ""  # appended to the base URL, e.g. /coins/markets
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)  # query parameters (never secrets)
    headers: dict[str, str] = Field(default_factory=dict)  # plain headers (e.g. Accept)
    # header -> environment variable holding its value (API keys); the value is never logged
    headers_env: dict[str, str] = Field(default_factory=dict)
    records_key: str | None = None  # the list is under this key of a JSON object body (default: the body is the list)
    pagination: HttpPagination | None = None  # None: one request
    timeout_seconds: float = Field(default=30, gt=0)
    retries: int = Field(default=5, ge=0, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0)
    # a Retry-After longer than this fails the run instead of blocking it (the next schedule tick retries)
    max_retry_after_seconds: float = Field(default=120, ge=0)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+", v):
            raise ValueError(f"'{v}' is not an http(s):// URL")
        return v

    @field_validator("base_url_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        return _check_env_name(v)

    @field_validator("headers_env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v.values():
            _check_env_name(name)
        return v

    @model_validator(mode="after")
    def _has_endpoint(self) -> "HttpSource":
        if self.base_url is None and self.base_url_env is None:
            raise ValueError("needs base_url or base_url_env (or both: the variable wins when set)")
        return self


class SqlSource(_Strict):
    """A table or query read through SQLAlchemy (sql_source.py), fully or by a watermark column."""

    url_env: str  # the variable holding the SQLAlchemy URL (it has a password: never in the contract)
    table: str | None = None  # "orders" or "schema.orders"
    query: str | None = None  # a SELECT; incremental mode filters and orders it by the watermark
    mode: Literal["full", "incremental"] = "full"
    watermark: str | None = None  # incremental: rows with watermark > the last extract's maximum
    chunk_rows: int = Field(default=50_000, ge=1)

    @field_validator("url_env")
    @classmethod
    def _env_name(cls, v: str) -> str:
        return _check_env_name(v)

    @model_validator(mode="after")
    def _coherent(self) -> "SqlSource":
        if (self.table is None) == (self.query is None):
            raise ValueError("needs exactly one of 'table' or 'query'")
        if self.mode == "incremental" and not self.watermark:
            raise ValueError("mode 'incremental' needs a 'watermark' column")
        if self.mode == "full" and self.watermark:
            raise ValueError("a 'watermark' needs mode: incremental (mode 'full' reads every row each time)")
        return self


class Source(_Strict):
    # file: files delivered into the landing zone; http / sql: pulled by the dataset's extract job
    # (extract.py), which delivers them into the landing zone under `pattern` like any producer.
    kind: Literal["file", "http", "sql"] = "file"
    http: HttpSource | None = None
    sql: SqlSource | None = None
    schedule: str | None = None  # cron of the extract schedule (pull sources; on when set)
    format: Literal["csv", "jsonl", "parquet"] = "csv"
    pattern: str = Field(description="glob, relative to the landing zone, of this dataset's files")
    # A file is ready when "<file>.done" exists (".done"), or "_SUCCESS" in its folder ("_SUCCESS").
    # Without a marker, a file is ready once its size and mtime are unchanged across two sensor ticks.
    ready_marker: Literal[".done", "_SUCCESS"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "None", "N/A", "n/a", "NA", "NaN", "nan", "-"])

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)

    @model_validator(mode="after")
    def _pull_options(self) -> "Source":
        for kind in ("http", "sql"):
            if self.kind == kind and getattr(self, kind) is None:
                raise ValueError(f"kind '{kind}' needs a '{kind}:' section with its options")
            if self.kind != kind and getattr(self, kind) is not None:
                raise ValueError(f"a '{kind}:' section needs kind: {kind} (kind is '{self.kind}')")
        if self.kind == "file":
            if self.schedule is not None:
                raise ValueError("schedule applies to pull sources (kind http or sql): files arrive on their own")
            return self
        wanted = {"http": "jsonl", "sql": "parquet"}[self.kind]
        if self.format != wanted:
            raise ValueError(f"kind '{self.kind}' delivers {wanted} files: set format: {wanted}")
        if self.pattern.count("*") != 1 or re.search(r"[?\[]", self.pattern):
            raise ValueError(f"pattern '{self.pattern}' needs exactly one '*' (and no other wildcard): "
                             f"the extract replaces it with its UTC timestamp, e.g. 'crypto/markets_*.jsonl'")
        return self


def expression_names(expression: str) -> set[str]:
    """Column names a pandas filter expression reads; ValueError when it is not an expression."""
    import ast

    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"filter '{expression}' is not a valid expression: {e.msg}") from None
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def _filter_parses(v: str) -> str:
    expression_names(v)
    return v


# A row filter (pandas expression over the contract's columns), checked for syntax at load.
FilterExpression = Annotated[str, AfterValidator(_filter_parses)]


class Metric(_Strict):
    name: str = Field(pattern=NAME_RE)
    # first/last: the value of the earliest/latest row by the aggregation's time column (price trends)
    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last"]
    column: str | None = None
    description: str = ""
    filter: FilterExpression | None = None  # a pandas expression: only rows where it holds count for this metric

    @model_validator(mode="after")
    def _column_needed(self) -> "Metric":
        if self.agg != "count" and self.column is None:
            raise ValueError(f"agg '{self.agg}' needs a column")
        return self


class Join(_Strict):
    """Columns of a dimensional model (another contract's `model:`) added to each row before grouping.

    A left join of the dataset's `on` column(s) to the model's key (in key order): every row is
    kept, rows whose key the model lacks get nulls.
    """

    model: str = Field(pattern=NAME_RE)
    on: list[str] = Field(min_length=1)
    columns: list[str] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, v: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true
        if isinstance(v, dict) and True in v and "on" not in v:
            v = {("on" if k is True else k): x for k, x in v.items()}
        return v

    @field_validator("on", mode="before")
    @classmethod
    def _one_column(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Aggregation(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: str = ""
    group_by: list[str] = Field(default_factory=list)
    # Optional time bucket: the column is truncated to `grain` and grouped on as `period`.
    time_column: str | None = None
    grain: Literal["day", "week", "month", "year"] = "day"
    metrics: list[Metric] = Field(min_length=1)
    # columns of dimensional models added to each row before grouping (see Join)
    join: list[Join] = Field(default_factory=list)
    filter: FilterExpression | None = None  # a pandas expression: only rows where it holds are aggregated
    # masked: every published row of every partition; model: the contract's model table (one row per
    # key, newest version), for incremental extracts that repeat a changed row in a later file
    over: Literal["masked", "model"] = "masked"

    @property
    def joined_columns(self) -> set[str]:
        return {c for j in self.join for c in j.columns}


class Severity(str, Enum):
    """Alert severities, lowest first (alerting.py maps check outcomes onto them)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


ALERT_CHANNELS = ("console", "slack", "email", "pagerduty", "webhook")
AlertChannel = Literal["console", "slack", "email", "pagerduty", "webhook"]

_DURATION_RE = re.compile(r"^\s*(\d+)\s*(m|h|d)\s*$")


def parse_duration(text: str) -> "datetime.timedelta":
    """'90m', '26h', '2d' -> timedelta."""
    m = _DURATION_RE.match(str(text))
    if not m:
        raise ValueError(f"'{text}' is not a duration like '90m', '26h' or '2d'")
    n, unit = int(m.group(1)), m.group(2)
    if n <= 0:
        raise ValueError("a duration must be positive")
    return datetime.timedelta(**{{"m": "minutes", "h": "hours", "d": "days"}[unit]: n})


class Freshness(_Strict):
    """The SLA: published (masked) data is never older than `max_lag` (at `deadline_cron`, if set)."""

    max_lag: str  # "90m", "26h", "2d"
    deadline_cron: str | None = None  # e.g. "0 9 * * *": by 09:00 UTC, data from the last max_lag
    severity: Literal["warn", "error"] = "error"

    @field_validator("max_lag")
    @classmethod
    def _lag(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("deadline_cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from dagster._utils.schedules import is_valid_cron_string

            if not is_valid_cron_string(v):
                raise ValueError(f"'{v}' is not a valid cron string")
        return v


class Alerts(_Strict):
    """Per-dataset alert overrides; anything left out uses the platform defaults (alerting.py)."""

    owner: str | None = None  # named in every alert; default: the contract's owner
    channels: list[AlertChannel] | None = None  # only these channels for this dataset
    severities: dict[AlertChannel, Severity] = Field(default_factory=dict)  # minimum severity per channel
    email_to: list[str] = Field(default_factory=list)  # added to DQ_ALERT_EMAIL_TO for this dataset
    reminder_after: str | None = None  # re-notify a still-failing check after this quiet period

    @field_validator("email_to")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        bad = [x for x in v if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", x)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return v

    @field_validator("reminder_after")
    @classmethod
    def _reminder(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v


class Maintenance(_Strict):
    """Table upkeep, run by the dataset's maintenance job (see maintenance.py)."""

    # columns the cleaned and masked tables are Z-ordered by (the columns queries filter on)
    zorder: list[str] = Field(default_factory=list)
    # vacuum keeps every file a version younger than this needs; Delta refuses a value below the
    # table's delta.deletedFileRetentionDuration (7 days unless set), and that check is never disabled
    vacuum_retention_hours: int = Field(default=168, ge=1)
    # cron; when the section is present the schedule runs by default, else it is off until enabled
    schedule: str = "0 3 * * 0"

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        from dagster._utils.schedules import is_valid_cron_string

        if not is_valid_cron_string(v):
            raise ValueError(f"'{v}' is not a cron expression (5 fields, e.g. '0 3 * * 0')")
        return v


_OWNER_RE = r"[^@\s]+@[^@\s]+\.[^@\s]+|team:[A-Za-z0-9_-]+"  # the shapes Dagster accepts as owners


class Model(_Strict):
    """A dimension or fact table (silver, from the masked layer): one row per key, newest version wins."""

    kind: Literal["dimension", "fact"]
    name: str = Field(pattern=NAME_RE)  # the asset's (and table's) name, e.g. dim_customer
    description: str = ""
    key: list[str] = Field(min_length=1)
    # When several partitions (extracts) hold a key, the row with the greatest value wins (SCD type 1).
    latest_by: str | None = None
    columns: list[str] | None = None  # projection; the key and reference columns are always kept
    references: dict[str, str] = Field(default_factory=dict)  # fact only: foreign key column -> model name
    # a foreign key missing from its model: warn (published anyway) or error (the fact is held back)
    orphans: Literal["warn", "error"] = "warn"

    @model_validator(mode="after")
    def _facts_reference(self) -> "Model":
        if self.references and self.kind != "fact":
            raise ValueError("references are declared on facts only (a dimension is referenced, it does not reference)")
        bad = [m for m in self.references.values() if not re.fullmatch(NAME_RE, m)]
        if bad:
            raise ValueError(f"references name invalid model(s): {', '.join(bad)}")
        return self

    @property
    def output_columns(self) -> list[str]:
        """Columns of the model's table, in order: key, declared columns, foreign keys."""
        wanted = [*self.key, *(self.columns or []), *self.references]
        return list(dict.fromkeys(wanted))


VALUE_AGGS = ("sum", "mean", "median", "min", "max", "first", "last")  # need a numeric column


def _part_errors(agg: str, column: str | None) -> None:
    if agg == "count" and column is not None:
        raise ValueError("count counts rows and takes no column (nunique counts distinct values)")
    if agg not in ("count", "ratio") and column is None:
        raise ValueError(f"agg '{agg}' needs a column")


class MetricPart(_Strict):
    """The numerator or denominator of a ratio metric."""

    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last"]
    column: str | None = None
    filter: FilterExpression | None = None

    @model_validator(mode="after")
    def _column_needed(self) -> "MetricPart":
        _part_errors(self.agg, self.column)
        return self


class SemanticMetric(_Strict):
    """A business metric, declared once: what it means, who answers for it, how it is computed."""

    name: str = Field(pattern=NAME_RE)
    label: str | None = None  # human name for BI tools; default: the name
    description: str = Field(min_length=1)  # the business definition, in words
    owner: str | None = None  # email or team:<name>; default: the contract's owner
    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique", "first", "last", "ratio"]
    column: str | None = None
    filter: FilterExpression | None = None  # pandas expression; for a ratio it narrows both numerator and denominator
    numerator: MetricPart | None = None  # ratio only
    denominator: MetricPart | None = None  # ratio only
    grain: Literal["day", "week", "month", "year"] = "day"
    dimensions: list[str] = Field(default_factory=list)
    unit: str | None = None  # e.g. currency, count, ratio; default: count for counts, ratio for ratios

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(_OWNER_RE, v):
            raise ValueError("owner must be an email address or 'team:<name>'")
        return v

    @model_validator(mode="after")
    def _parts(self) -> "SemanticMetric":
        if self.agg == "ratio":
            if self.numerator is None or self.denominator is None:
                raise ValueError("a ratio needs both a numerator and a denominator ({agg, column, filter})")
            if self.column is not None:
                raise ValueError("a ratio takes no column: its numerator and denominator name theirs")
        elif self.numerator is not None or self.denominator is not None:
            raise ValueError(f"numerator/denominator belong to ratio metrics, not to agg '{self.agg}'")
        _part_errors(self.agg, self.column)
        return self

    @property
    def parts(self) -> list[MetricPart]:
        """What is aggregated: the metric itself, or a ratio's numerator and denominator."""
        if self.agg == "ratio":
            return [self.numerator, self.denominator]
        return [MetricPart(agg=self.agg, column=self.column)]

    @property
    def resolved_unit(self) -> str | None:
        return self.unit or {"count": "count", "nunique": "count", "ratio": "ratio"}.get(self.agg)


class Semantic(_Strict):
    """The semantic layer: business metrics over the masked layer, materialized as one long gold table."""

    time_column: str  # every metric is bucketed on it (each at its own grain)
    description: str = ""
    over: Literal["masked", "model"] = "masked"  # as in aggregations: rows of masked, or of the model table
    metrics: list[SemanticMetric] = Field(min_length=1)


HistoryMetric = Literal["row_count", "arrival", "failure_rate", "column_metrics"]
HISTORY_METRICS = ("row_count", "arrival", "failure_rate", "column_metrics")


MIN_WEEKLY_WEEKS = 8  # same-weekday files a weekly-seasonal window must hold (small-sample factor ~4.2 at 8)


class History(_Strict):
    """Anomaly detection from past files (history.py, history_checks.py): non-blocking checks."""

    enabled: bool = True
    window: str = "28d"  # trailing window of past files compared with ("90m", "26h", "28d")
    min_history: int = Field(default=7, ge=2)  # files needed before judging
    # with weekly seasonality only same-weekday files count: the window must hold 8 weeks (56d)
    min_weekday_history: int = Field(default=3, ge=2)
    threshold: float = Field(default=3.5, gt=0)  # robust z beyond which a value is anomalous
    seasonality: Literal["none", "weekly"] = "none"
    severity: Literal["warn", "error"] = "warn"  # error: HIGH alerts instead of MEDIUM; never blocking
    metrics: list[HistoryMetric] = Field(default_factory=lambda: list(HISTORY_METRICS))

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        parse_duration(v)
        return v

    @field_validator("metrics")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("metrics must not repeat")
        return v

    @model_validator(mode="after")
    def _weekly_needs_weeks(self):
        """Weekly seasonality compares same-weekday files only: a short window holds too few of them
        to judge anything but gross changes (history.small_sample_factor is ~22 at 4 points)."""
        if self.enabled and self.seasonality == "weekly":
            weeks = parse_duration(self.window).days // 7
            if weeks < MIN_WEEKLY_WEEKS:
                raise ValueError(
                    f"weekly seasonality compares each file with past files of its weekday only; a window of "
                    f"{self.window} holds {weeks} of them, too few to judge more than gross changes: use a window of "
                    f"{7 * MIN_WEEKLY_WEEKS}d or more (e.g. 84d)")
        return self


_WINDOW_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")


def parse_window(text: str) -> "datetime.timedelta":
    """'30s', '1m', '2h', '1d' -> timedelta (anomaly windows may be shorter than a minute)."""
    m = _WINDOW_RE.match(str(text))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a window size like '30s', '1m', '2h' or '1d'")
    return datetime.timedelta(**{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]: int(m.group(1))})


# Columns of the contract being validated, set around its validation (Contract._with_columns) so an
# anomaly rule can name the line of a wrong column reference instead of the contract's first line.
_COLUMNS: ContextVar[dict[str, str] | None] = ContextVar("dq_contract_columns", default=None)


def _raw_masked_types(columns: Any) -> dict[str, str]:
    """{name: type in the masked layer} from the contract's raw (not yet validated) columns."""
    out = {}
    for c in columns if isinstance(columns, list) else []:
        if isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("type"), str):
            pii = c.get("pii")
            masking = pii.get("masking", "token") if isinstance(pii, dict) else None
            out[c["name"]] = c["type"] if pii is None else ("integer" if masking == "year" else "string")
    return out


def _check_columns(names: list[str], what: str) -> list[str]:
    known = _COLUMNS.get()
    unknown = [n for n in names if known is not None and n not in known]
    if unknown:
        raise ValueError(f"{what} names unknown column(s): {', '.join(unknown)}"
                         + (f" (columns: {', '.join(known)})" if known else ""))
    return names


class AnomalyWindow(_Strict):
    """More than `count_above` matching events of one group within any `size` interval (both ends inclusive)."""

    time_column: str
    size: str  # "30s", "1m", "1h", "1d"
    group_by: list[str] = Field(default_factory=list)
    count_above: int = Field(ge=0)

    @field_validator("size")
    @classmethod
    def _size(cls, v: str) -> str:
        parse_window(v)
        return v

    @field_validator("time_column")
    @classmethod
    def _time(cls, v: str) -> str:
        _check_columns([v], "time_column")
        known = _COLUMNS.get()
        if known is not None and known.get(v) not in ("timestamp", "date"):
            raise ValueError(f"time_column '{v}' must be an unmasked timestamp or date column, not {known.get(v)}")
        return v

    @field_validator("group_by")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        return _check_columns(v, "group_by")

    @property
    def seconds(self) -> float:
        return parse_window(self.size).total_seconds()


class Anomaly(_Strict):
    """A rule-based anomaly over the published (masked) events; see anomalies.py for the semantics.

    Without `window` it is a row rule: every event matching `where` is an anomaly. With it, an anomaly
    is a burst: more than `window.count_above` matching events of one group within `window.size`.
    """

    id: str = Field(pattern=NAME_RE)
    description: str = ""
    where: str | None = None  # pandas expression over the masked columns; None: every event
    window: AnomalyWindow | None = None
    severity: Literal["warn", "error"] = "warn"
    label: str = "matching events"  # what one matching event is called in alerts, e.g. "ERROR logs"

    @field_validator("where")
    @classmethod
    def _where(cls, v: str | None) -> str | None:
        known = _COLUMNS.get()
        if v is None or known is None:
            return v
        import pandas as pd

        from dq_platform.engine.cleaning import CLEANED_DTYPES

        # one typed row, so comparing a masked (text) column with a number fails here, not in a run
        sample = {"integer": 0, "float": 0.0, "string": "x", "date": pd.Timestamp(0), "timestamp": pd.Timestamp(0),
                  "boolean": False}
        row = pd.DataFrame({n: pd.Series([sample[t]], dtype=CLEANED_DTYPES[ColumnType(t)])
                            for n, t in known.items() if t in sample})
        try:
            result = row.eval(v, engine="python")
        except Exception as e:  # noqa: BLE001 - the expression is the author's: say what is wrong with it
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"cannot be evaluated over the masked columns: {reason}") from None
        if not isinstance(result, pd.Series) or not pd.api.types.is_bool_dtype(result.dtype):
            raise ValueError("is not a condition (it must give true or false for each event)")
        return v

    @model_validator(mode="after")
    def _needs_a_condition(self) -> "Anomaly":
        if self.where is None and self.window is None:
            raise ValueError("an anomaly needs a 'where' condition, a 'window', or both")
        return self


class PostgresTarget(_Strict):
    """Publish masked rows (and anomalies) to PostgreSQL; the URL stays in the named variable."""

    # dumps say `schema`, as the YAML does, so a dumped contract loads back
    model_config = ConfigDict(extra="forbid", frozen=True, serialize_by_alias=True, validate_by_name=True)

    url_env: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")  # e.g. DQ_EVENTS_PG_URL; unset -> nothing published
    table: str | None = Field(default=None, pattern=NAME_RE)  # default: the dataset name
    db_schema: str | None = Field(default=None, alias="schema", pattern=NAME_RE)  # default: the URL's default


class Publish(_Strict):
    postgres: PostgresTarget | None = None


class Contract(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: str
    owner: str
    # The asset group in the UI; contracts of one domain (e.g. the event streams) share one.
    group: str | None = Field(default=None, pattern=NAME_RE)
    tags: dict[str, str] = Field(default_factory=dict)
    source: Source
    columns: list[Column] = Field(min_length=1)
    rules: list[ExpressionRule] = Field(default_factory=list)
    failure_rate: Level = Field(default_factory=lambda: Level(warn=0.05, error=0.2))
    row_count: RowCount | None = None
    aggregations: list[Aggregation] = Field(default_factory=list)
    freshness: Freshness | None = None
    review: Review = Field(default_factory=Review)
    alerts: Alerts = Field(default_factory=Alerts)
    maintenance: Maintenance | None = None
    model: Model | None = None  # dimension or fact table built from this dataset (silver)
    semantic: Semantic | None = None  # business metrics over this dataset (gold)
    history: History = Field(default_factory=History)
    anomalies: list[Anomaly] = Field(default_factory=list)
    publish: Publish | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _with_columns(cls, data: Any, handler):
        token = _COLUMNS.set(_raw_masked_types(data.get("columns")) if isinstance(data, dict) else None)
        try:
            return handler(data)
        finally:
            _COLUMNS.reset(token)

    @field_validator("anomalies")
    @classmethod
    def _unique_anomaly_ids(cls, v: list[Anomaly]) -> list[Anomaly]:
        ids = [a.id for a in v]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"anomaly ids must be unique: {', '.join(dupes)}")
        return v

    @field_validator("maintenance")
    @classmethod
    def _zorder_columns(cls, v: Maintenance | None, info) -> Maintenance | None:
        known = {c.name for c in info.data.get("columns") or []}
        unknown = [c for c in (v.zorder if v else []) if known and c not in known]
        if unknown:
            raise ValueError(f"zorder names unknown column(s): {', '.join(unknown)}")
        return v

    @field_validator("owner")
    @classmethod
    def _owner_shape(cls, v: str) -> str:
        # Dagster owners are emails or "team:name".
        if not (re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) or re.fullmatch(r"team:[A-Za-z0-9_-]+", v)):
            raise ValueError("owner must be an email address or 'team:<name>'")
        return v

    @model_validator(mode="after")
    def _references(self) -> "Contract":
        names = [c.name for c in self.columns]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate column names: {', '.join(dupes)}")
        cols = {c.name: c for c in self.columns}
        masked_types = self.masked_types()
        for agg in self.aggregations:
            if agg.time_column is not None and (
                    agg.time_column not in cols or masked_types[agg.time_column] not in ("date", "timestamp")):
                raise ValueError(f"aggregation '{agg.name}' time_column '{agg.time_column}' must be an unmasked date/timestamp column")
            joined = agg.joined_columns  # their types are checked across contracts (dimensional.py)
            for g in agg.group_by:
                if g not in cols and g not in joined:
                    raise ValueError(f"aggregation '{agg.name}' groups by unknown column '{g}'")
            for m in agg.metrics:
                if m.column is not None and m.column not in cols and m.column not in joined:
                    raise ValueError(f"aggregation '{agg.name}' metric '{m.name}' uses unknown column '{m.column}'")
                if m.agg in ("sum", "mean", "median") and m.column not in joined \
                        and masked_types.get(m.column) not in ("integer", "float"):
                    raise ValueError(
                        f"aggregation '{agg.name}' metric '{m.name}': {m.agg} needs a numeric column after masking")
        agg_names = [a.name for a in self.aggregations]
        if len(set(agg_names)) != len(agg_names):
            raise ValueError("aggregation names must be unique")
        if self.row_count and self.row_count.min is not None and self.row_count.max is not None \
                and self.row_count.min > self.row_count.max:
            raise ValueError("row_count.min is greater than row_count.max")
        return self

    @model_validator(mode="after")
    def _modeling_sections(self) -> "Contract":
        """model:, joins, filters and semantic: against this contract's columns, each error at its own line."""
        errors = _modeling_errors(self)
        if errors:
            from pydantic_core import InitErrorDetails, PydanticCustomError

            raise ValidationError.from_exception_data("Contract", [
                InitErrorDetails(type=PydanticCustomError("value_error", "{reason}", {"reason": reason}),
                                 loc=loc, input=None) for loc, reason in errors])
        return self

    @model_validator(mode="after")
    def _watermark_column(self) -> "Contract":
        sql = self.source.sql
        if sql is not None and sql.watermark is not None:
            types = {c.name: c.type.value for c in self.columns}
            if sql.watermark not in types:
                raise ValueError(f"source.sql.watermark '{sql.watermark}' must be one of the contract's columns")
            if types[sql.watermark] not in ("integer", "float", "date", "timestamp"):
                raise ValueError(f"source.sql.watermark '{sql.watermark}' must be an integer, float, date or "
                                 f"timestamp column (it is {types[sql.watermark]}): values must only grow")
        return self

    # -- derived views -------------------------------------------------------------------
    @property
    def asset_group(self) -> str:
        return self.group or self.name

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def pii_columns(self) -> list[Column]:
        return [c for c in self.columns if c.pii is not None]

    def masked_types(self) -> dict[str, str]:
        """Logical type of each column in the masked layer (masking can change it)."""
        out = {}
        for c in self.columns:
            t = c.type.value
            if c.pii is not None:
                m = c.pii.masking
                t = "integer" if m == MaskingStrategy.year else "string"
            out[c.name] = t
        return out


# -- model / join / semantic checks against the contract's own columns ---------------------

SEMANTIC_COLUMNS = ("metric", "period", "grain", "value", "unit")  # the long table's own columns


def _modeling_errors(c: Contract) -> list[tuple[tuple, str]]:
    cols = {col.name: col for col in c.columns}
    types = c.masked_types()
    errors: list[tuple[tuple, str]] = []

    def unknown_names(expression: str, known, loc: tuple) -> None:
        missing = sorted(expression_names(expression) - set(known))
        if missing:
            errors.append((loc, f"filter uses unknown column(s): {', '.join(missing)}"))

    def numeric(column: str, agg: str, loc: tuple) -> None:
        if column not in cols:
            errors.append((loc, f"unknown column '{column}'"))
        elif agg in VALUE_AGGS and types[column] not in ("integer", "float"):
            pii = cols[column].pii
            why = f"is PII masked as {pii.masking.value} ({types[column]})" if pii else f"is {types[column]}"
            errors.append((loc, f"{agg} needs a numeric column after masking; '{column}' {why}"))

    m = c.model
    if m is not None:
        for i, k in enumerate(m.key):
            if k not in cols:
                errors.append((("model", "key", i), f"unknown column '{k}'"))
            elif not cols[k].required:
                errors.append((("model", "key", i), f"key column '{k}' must be required: true (a null key identifies no row)"))
        if m.latest_by is not None and (m.latest_by not in cols or cols[m.latest_by].pii is not None
                                        or types[m.latest_by] not in ("date", "timestamp", "integer", "float")):
            errors.append((("model", "latest_by"), f"latest_by '{m.latest_by}' must be an unmasked date, timestamp or number column"))
        for i, col in enumerate(m.columns or []):
            if col not in cols:
                errors.append((("model", "columns", i), f"unknown column '{col}'"))
        for fk in m.references:
            if fk not in cols:
                errors.append((("model", "references", fk), f"unknown column '{fk}'"))
        own = {f"raw_{c.name}", f"cleaned_{c.name}", f"quarantine_{c.name}", f"masked_{c.name}",
               *(f"{c.name}_{a.name}" for a in c.aggregations)}
        if m.name in own:
            errors.append((("model", "name"), f"'{m.name}' is already the name of one of this dataset's assets"))

    def over_model(section, used: set[str], loc: tuple) -> None:
        if section.over != "model":
            return
        if m is None:
            errors.append(((*loc, "over"), "over: model needs a model: section in this contract"))
            return
        missing = sorted(used - set(m.output_columns))
        if missing:
            errors.append(((*loc, "over"), f"column(s) {', '.join(missing)} are not in model '{m.name}' (add them to its columns)"))

    for ai, agg in enumerate(c.aggregations):
        loc = ("aggregations", ai)
        seen: set[str] = set()
        used = {*agg.group_by, *(x.column for x in agg.metrics if x.column), *(col for j in agg.join for col in j.on),
                *([agg.time_column] if agg.time_column else []),
                *(n for e in [agg.filter, *(x.filter for x in agg.metrics)] if e for n in expression_names(e))}
        over_model(agg, (used & set(cols)) - agg.joined_columns, loc)
        for ji, j in enumerate(agg.join):
            for col in j.on:
                if col not in cols:
                    errors.append(((*loc, "join", ji, "on"), f"unknown column '{col}'"))
            clash = sorted({x for x in j.columns if x in cols or x in seen or x == "period"})
            if clash:
                errors.append(((*loc, "join", ji, "columns"),
                               f"joined column(s) {', '.join(clash)} already exist in the rows; a model's column joins under its own name"))
            seen.update(j.columns)
        known = set(cols) | agg.joined_columns
        if agg.filter:
            unknown_names(agg.filter, known, (*loc, "filter"))
        for mi, metric in enumerate(agg.metrics):
            if metric.filter:
                unknown_names(metric.filter, known, (*loc, "metrics", mi, "filter"))
            if metric.agg in ("first", "last") and agg.time_column is None:
                errors.append(((*loc, "metrics", mi, "agg"), f"{metric.agg} is ordered by the aggregation's time_column; declare one"))
        if c.semantic is not None and agg.name in ("semantic_metrics", "metric_definitions"):
            errors.append(((*loc, "name"), f"'{agg.name}' is the name of a semantic-layer asset of this dataset"))

    sem = c.semantic
    if sem is not None:
        if sem.time_column not in cols or types[sem.time_column] not in ("date", "timestamp"):
            errors.append((("semantic", "time_column"), f"time_column '{sem.time_column}' must be an unmasked date/timestamp column"))
        used = {sem.time_column, *(d for x in sem.metrics for d in x.dimensions)}
        for x in sem.metrics:
            for part in [x, *([x.numerator, x.denominator] if x.agg == "ratio" else [])]:
                used |= ({part.column} if part.column else set()) | (expression_names(part.filter) if part.filter else set())
        over_model(sem, used & set(cols), ("semantic",))
        names: set[str] = set()
        for mi, metric in enumerate(sem.metrics):
            loc = ("semantic", "metrics", mi)
            if metric.name in names:
                errors.append(((*loc, "name"), f"duplicate metric name '{metric.name}'"))
            names.add(metric.name)
            if metric.column is not None:
                numeric(metric.column, metric.agg, (*loc, "column"))
            if metric.filter:
                unknown_names(metric.filter, cols, (*loc, "filter"))
            for part_name in ("numerator", "denominator"):
                part = getattr(metric, part_name)
                if part is None:
                    continue
                if part.column is not None:
                    numeric(part.column, part.agg, (*loc, part_name, "column"))
                if part.filter:
                    unknown_names(part.filter, cols, (*loc, part_name, "filter"))
            for di, dim in enumerate(metric.dimensions):
                if dim in SEMANTIC_COLUMNS:
                    errors.append(((*loc, "dimensions", di), f"'{dim}' is a column of the metrics table itself; not a dimension name"))
                elif dim not in cols:
                    errors.append(((*loc, "dimensions", di), f"unknown dimension '{dim}' (dimensions are columns of the contract)"))
    return errors


# -- loading -----------------------------------------------------------------------------

# libyaml's C parser when PyYAML was built with it (it is, from PyPI): contracts load at every
# run's start (its job is rebuilt from them), and the pure-Python parser costs ~0.1 s per file.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _line_index(text: str) -> dict[tuple, int]:
    """Map each YAML node path (keys and list indexes) to its 1-based line number."""
    index: dict[tuple, int] = {}

    def walk(node: yaml.Node, path: tuple) -> None:
        index[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = k.value
                index[path + (key,)] = k.start_mark.line + 1
                walk(v, path + (key,))
                index[path + (key,)] = k.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, path + (i,))

    root = yaml.compose(text, Loader=YAML_LOADER)
    if root is not None:
        walk(root, ())
    return index


def _describe(loc: tuple, data: Any) -> str:
    """columns[3].type -> 'columns[3] (email).type' when the item has a name."""
    parts, cur = [], data
    for p in loc:
        if isinstance(p, int):
            label = f"[{p}]"
            try:
                cur = cur[p]
                if isinstance(cur, dict) and "name" in cur:
                    label += f" ({cur['name']})"
            except (IndexError, KeyError, TypeError):
                cur = None
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(p))
            cur = cur.get(p) if isinstance(cur, dict) else None
    return "".join(parts) or "(top level)"


def parse_contract(text: str, path: str | Path = "<string>") -> Contract:
    path = str(path)
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ContractError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{path}:1: a contract must be a YAML mapping, got {type(data).__name__}")
    try:
        return Contract.model_validate(data)
    except ValidationError as e:
        lines = _line_index(text)
        msgs = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic appends the union member / enum tag; trim to the deepest real path
            while loc and loc not in lines and len(loc) > 1:
                loc = loc[:-1]
            line = lines.get(loc) or lines.get(loc[:-1], 1) if loc else 1
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field (typo?)"
            elif err["type"] == "missing":
                reason = "required field is missing"
            msgs.append(f"{path}:{line}: {_describe(err['loc'], data)}: {reason}")
        raise ContractError("\n".join(msgs)) from None


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ContractError(f"{path}: cannot read contract: {e.strerror}") from None
    contract = parse_contract(text, path)
    if contract.name != path.stem:
        raise ContractError(f"{path}:1: name: '{contract.name}' must match the file name '{path.stem}'")
    return contract


def load_contracts(directory: str | Path | None = None) -> list[Contract]:
    """Every *.yaml under the directory; all errors are collected into one ContractError."""
    directory = Path(directory) if directory else CONTRACTS_DIR
    if directory.is_file():
        return [load_contract(directory)]
    if not directory.is_dir():
        raise ContractError(f"{directory}: no such contracts directory")
    contracts, errors, paths = [], [], []
    for p in sorted(directory.glob("*.y*ml")):
        try:
            contracts.append(load_contract(p))
            paths.append(p)
        except ContractError as e:
            errors.append(str(e))
    if not errors:  # models, references and joins between contracts (dimensional.py)
        from dq_platform.engine.modeling import cross_contract_errors

        errors = cross_contract_errors(list(zip(contracts, paths)))
    if errors:
        raise ContractError("\n".join(errors))
    return contracts
