"""What watches a dataset once it runs: alerts, freshness, table upkeep, history and anomaly rules.

Also the duration and window parsers their fields use, and the columns of the contract being
validated (a context variable), so an anomaly rule names the line of a wrong column reference.
"""

from __future__ import annotations

import datetime
import re
from contextvars import ContextVar
from enum import Enum
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from dq_platform.contract.base import NAME_RE, _Strict, check_cron
from dq_platform.contract.columns import CLEANED_DTYPES, ColumnType


class Severity(str, Enum):
    """Alert severities, lowest first (alerts/policy.py maps check outcomes onto them)."""

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


def parse_duration(text: str) -> datetime.timedelta:
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
        return check_cron(v, "'{value}' is not a valid cron string")


class Alerts(_Strict):
    """Per-dataset alert overrides; anything left out uses the platform defaults (alerts/policy.py)."""

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
        return check_cron(v, "'{value}' is not a cron expression (5 fields, e.g. '0 3 * * 0')")


HistoryMetric = Literal["row_count", "arrival", "failure_rate", "column_metrics"]
HISTORY_METRICS = ("row_count", "arrival", "failure_rate", "column_metrics")


MIN_WEEKLY_WEEKS = 8  # same-weekday files a weekly-seasonal window must hold (small-sample factor ~4.2 at 8)


class History(_Strict):
    """Anomaly detection from past files (engine/history.py, defs/history_checks.py): non-blocking checks."""

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
                    f"{7 * MIN_WEEKLY_WEEKS}d or more (e.g. 84d)"
                )
        return self


_WINDOW_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")


def parse_window(text: str) -> datetime.timedelta:
    """'30s', '1m', '2h', '1d' -> timedelta (anomaly windows may be shorter than a minute)."""
    m = _WINDOW_RE.match(str(text))
    if not m or int(m.group(1)) <= 0:
        raise ValueError(f"'{text}' is not a window size like '30s', '1m', '2h' or '1d'")
    return datetime.timedelta(
        **{{"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]: int(m.group(1))}
    )


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
        raise ValueError(
            f"{what} names unknown column(s): {', '.join(unknown)}"
            + (f" (columns: {', '.join(known)})" if known else "")
        )
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

        # one typed row, so comparing a masked (text) column with a number fails here, not in a run
        sample = {
            "integer": 0,
            "float": 0.0,
            "string": "x",
            "date": pd.Timestamp(0),
            "timestamp": pd.Timestamp(0),
            "boolean": False,
        }
        row = pd.DataFrame(
            {n: pd.Series([sample[t]], dtype=CLEANED_DTYPES[ColumnType(t)]) for n, t in known.items() if t in sample}
        )
        try:
            result = row.eval(v, engine="python")
        except Exception as e:  # noqa: BLE001 - the expression is the author's: say what is wrong with it
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"cannot be evaluated over the masked columns: {reason}") from None
        if not isinstance(result, pd.Series) or not pd.api.types.is_bool_dtype(result.dtype):
            raise ValueError("is not a condition (it must give true or false for each event)")
        return v

    @model_validator(mode="after")
    def _needs_a_condition(self) -> Anomaly:
        if self.where is None and self.window is None:
            raise ValueError("an anomaly needs a 'where' condition, a 'window', or both")
        return self
