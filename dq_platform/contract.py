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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

CONTRACTS_DIR = Path(__file__).parent / "contracts"

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


class Column(_Strict):
    name: str = Field(pattern=NAME_RE)
    type: ColumnType
    description: str = ""
    required: bool = False
    unique: bool = False
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
    warn: float = Field(ge=0, le=1)
    error: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Level":
        if self.warn > self.error:
            raise ValueError("warn must not exceed error")
        return self


class RowCount(_Strict):
    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)


class Source(_Strict):
    format: Literal["csv", "jsonl", "parquet"] = "csv"
    pattern: str = Field(description="glob, relative to the landing zone, of this dataset's files")
    # A file is ready when "<file>.done" exists (".done"), or "_SUCCESS" in its folder ("_SUCCESS").
    # Without a marker, a file is ready once its size and mtime are unchanged across two sensor ticks.
    ready_marker: Literal[".done", "_SUCCESS"] | None = None
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    encoding: str = "utf-8"
    null_values: list[str] = Field(default_factory=lambda: ["", "NULL", "null", "None", "N/A", "n/a", "NA", "NaN", "nan", "-"])


class Metric(_Strict):
    name: str = Field(pattern=NAME_RE)
    agg: Literal["count", "sum", "mean", "median", "min", "max", "nunique"]
    column: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _column_needed(self) -> "Metric":
        if self.agg != "count" and self.column is None:
            raise ValueError(f"agg '{self.agg}' needs a column")
        return self


class Aggregation(_Strict):
    name: str = Field(pattern=NAME_RE)
    description: str = ""
    group_by: list[str] = Field(default_factory=list)
    # Optional time bucket: the column is truncated to `grain` and grouped on as `period`.
    time_column: str | None = None
    grain: Literal["day", "week", "month", "year"] = "day"
    metrics: list[Metric] = Field(min_length=1)


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

        from .cleaning import CLEANED_DTYPES

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
    alerts: Alerts = Field(default_factory=Alerts)
    maintenance: Maintenance | None = None
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
            for g in agg.group_by:
                if g not in cols:
                    raise ValueError(f"aggregation '{agg.name}' groups by unknown column '{g}'")
            for m in agg.metrics:
                if m.column is not None and m.column not in cols:
                    raise ValueError(f"aggregation '{agg.name}' metric '{m.name}' uses unknown column '{m.column}'")
                if m.agg in ("sum", "mean", "median") and masked_types.get(m.column) not in ("integer", "float"):
                    raise ValueError(
                        f"aggregation '{agg.name}' metric '{m.name}': {m.agg} needs a numeric column after masking")
        agg_names = [a.name for a in self.aggregations]
        if len(set(agg_names)) != len(agg_names):
            raise ValueError("aggregation names must be unique")
        if self.row_count and self.row_count.min is not None and self.row_count.max is not None \
                and self.row_count.min > self.row_count.max:
            raise ValueError("row_count.min is greater than row_count.max")
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


# -- loading -----------------------------------------------------------------------------

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

    root = yaml.compose(text)
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
        data = yaml.safe_load(text)
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
    contracts, errors = [], []
    for p in sorted(directory.glob("*.y*ml")):
        try:
            contracts.append(load_contract(p))
        except ContractError as e:
            errors.append(str(e))
    if errors:
        raise ContractError("\n".join(errors))
    return contracts
