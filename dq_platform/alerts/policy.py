"""What an alert is, how bad it is, who hears it, and when: the part of alerting with no I/O.

- `Alert`: one notification (trigger, reminder, resolve or review) with the context to act on it:
  dataset, asset, check, partition, counts and rates, top failing rules, run id, UI links. It is
  built from check metadata, which in this project holds counts and rule ids only, never values.
- `SEVERITY_BY_OUTCOME`: the one place that says how bad each outcome is.
- `routes()`: which channels get an alert of a given severity (defaults from the original governance pipeline, then the
  contract's `alerts:` overrides).
- `Incidents`: the dedup / reminder / resolution state machine. Its state is plain JSON that the
  alert sensors keep in their Dagster cursor, so it survives restarts and is never held in memory.
"""

import datetime as dt
import json
import re
import uuid
from dataclasses import asdict, dataclass, field
from urllib.parse import quote

from dq_platform import names, settings
from dq_platform.contract import ALERT_CHANNELS, Contract, Severity, parse_duration

LOW, MEDIUM, HIGH, CRITICAL = Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL

# How bad each outcome is: the one visible map (README "Alerts" repeats it).
SEVERITY_BY_OUTCOME: dict[str, Severity] = {
    "check_warn": MEDIUM,  # a non-blocking (WARN) check failed: the data was published anyway
    "check_error": HIGH,  # a blocking gate failed: the partition was held back
    "freshness": HIGH,  # the dataset missed its freshness SLA
    "pii_leak": CRITICAL,  # masked/gold output looked like raw PII: never published, but someone must look
    "run_failure": CRITICAL,  # a run crashed (an exception, not a gate): nothing of it was published
    "review_required": MEDIUM,  # a partition waits for a human decision (defs/review.py)
    "history_warn": MEDIUM,  # a value outside what history predicts (defs/history_checks.py; never blocking)
    "history_error": HIGH,  # the same, for a contract whose history section says severity: error
    "anomaly_warn": MEDIUM,  # an anomaly rule (severity warn) flagged the file's events: published, worth a look
    "anomaly_error": HIGH,  # an anomaly rule (severity error) flagged the file's events
}

# Minimum severity each channel receives by default (as the original governance pipeline did: Slack all, email HIGH+, PagerDuty CRITICAL).
DEFAULT_MIN_SEVERITY: dict[str, Severity] = {
    "console": LOW,
    "slack": LOW,
    "webhook": LOW,
    "email": HIGH,
    "pagerduty": CRITICAL,
}
DEFAULT_REMINDER = "4h"


def outcome_for_check(check_name: str, severity: str) -> str:
    if check_name in names.PII_LEAK_CHECKS:
        return "pii_leak"
    if check_name.startswith(names.FRESHNESS_CHECK_PREFIX):
        return "freshness"
    if check_name.endswith(names.HISTORY_CHECK_SUFFIXES):  # an ERROR one is still not a gate: nothing was held
        return "history_error" if severity == "ERROR" else "history_warn"
    if check_name.startswith(names.ANOMALY_CHECK_PREFIX):
        return "anomaly_error" if severity == "ERROR" else "anomaly_warn"
    return "check_error" if severity == "ERROR" else "check_warn"


def webserver_url() -> str:
    return settings.get("DQ_WEBSERVER_URL").rstrip("/")


def run_link(run_id: str | None) -> str | None:
    return f"{webserver_url()}/runs/{run_id}" if run_id else None


def asset_link(asset: str | None) -> str | None:
    return f"{webserver_url()}/assets/{quote(asset)}" if asset else None


@dataclass
class Alert:
    kind: str  # trigger | reminder | resolve | review_required
    severity: Severity
    dataset: str
    title: str
    incident_key: str  # stable per dataset + asset + check: PagerDuty's dedup_key
    asset: str | None = None
    check: str | None = None
    partition: str | None = None
    run_id: str | None = None
    job: str | None = None
    owner: str | None = None
    summary: str = ""
    facts: dict[str, int | float | str] = field(default_factory=dict)  # counts and rates only
    top_rules: list[tuple[str, str, str]] = field(default_factory=list)  # rule id, rows, share
    failing_since: str | None = None
    occurrences: int = 1
    report: str | None = None  # the run's HTML execution report (reports.py): a path or s3:// URI
    alert_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def run_url(self) -> str | None:
        return run_link(self.run_id)

    @property
    def asset_url(self) -> str | None:
        return asset_link(self.asset)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["severity"] = self.severity.value
        d["top_rules"] = [list(r) for r in self.top_rules]
        d["run_url"], d["asset_url"] = self.run_url, self.asset_url
        return d

    def text(self) -> str:
        """Plain-text rendering (console, email, logs)."""
        lines = [self.title, ""]
        for label, value in (
            ("dataset", self.dataset),
            ("asset", self.asset),
            ("check", self.check),
            ("partition", self.partition),
            ("run", self.run_id),
            ("owner", self.owner),
            ("failing since", self.failing_since),
            ("occurrences", self.occurrences if self.occurrences > 1 else None),
        ):
            if value:
                lines.append(f"{label:>13}: {value}")
        if self.summary:
            lines += ["", self.summary]
        if self.facts:
            lines += ["", "counts: " + ", ".join(f"{k}={v}" for k, v in self.facts.items())]
        if self.top_rules:
            lines += ["", "top failing rules:"] + [f"  {r:<40} {n:>8} rows  {s}" for r, n, s in self.top_rules]
        links = [u for u in (self.run_url, self.asset_url) if u]
        if links:
            lines += [""] + links
        if self.report:
            lines.append(f"report: {self.report}")
        return "\n".join(lines)


# -- building alerts from what Dagster recorded ---------------------------------------------

_MD_ROW = re.compile(r"^\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|")


def _md_rules(markdown: str, limit: int = 5) -> list[tuple[str, str, str]]:
    """(rule, rows, share) from the check's 'top failing rules' table (rule ids and counts only)."""
    out = []
    for line in markdown.splitlines()[2:]:
        m = _MD_ROW.match(line)
        if m:
            out.append((m.group(1), m.group(2), m.group(3)))
        if len(out) >= limit:
            break
    return out


def _facts(metadata: dict) -> dict[str, int | float]:
    """Numbers only: a metadata value that is not a count or a rate is never copied into an alert."""
    out = {}
    for k, v in metadata.items():
        v = getattr(v, "value", v)
        if isinstance(v, bool) or k.startswith("dagster/"):
            continue
        if isinstance(v, (int, float)):
            out[k] = round(v, 6) if isinstance(v, float) else v
    return out


def incident_key(dataset: str, asset: str | None, check: str | None) -> str:
    return "/".join(["dq", dataset, asset or "-", check or "-"])


def check_alert(
    contract: Contract | None,
    *,
    dataset: str,
    asset: str,
    check: str,
    severity: str,
    passed: bool,
    partition: str | None,
    run_id: str | None,
    description: str | None,
    metadata: dict,
    kind: str = "trigger",
) -> Alert:
    outcome = outcome_for_check(check, severity)
    sev = SEVERITY_BY_OUTCOME[outcome]
    md = getattr(metadata.get("top_failing_rules"), "value", None) or getattr(
        metadata.get("failures_markdown"), "value", None
    )
    what = {
        "freshness": "missed its freshness SLA",
        "pii_leak": "PII leak gate failed",
        "check_error": "blocking gate failed",
        "check_warn": "check warned",
        "history_warn": "anomaly against history",
        "history_error": "anomaly against history",
        "anomaly_error": "anomaly detected",
        "anomaly_warn": "anomaly detected",
    }[outcome]
    title = f"[{sev.value}] {dataset}: {what}: {asset}.{check}"
    return Alert(
        kind=kind,
        severity=sev,
        dataset=dataset,
        title=title,
        incident_key=incident_key(dataset, asset, check),
        asset=asset,
        check=check,
        partition=partition,
        run_id=run_id,
        owner=owner_of(contract),
        summary=safe_summary(description),
        facts=_facts(metadata),
        top_rules=_md_rules(md) if isinstance(md, str) else [],
    )


def run_failure_alert(
    contract: Contract | None, *, dataset: str, job: str, run_id: str, partition: str | None, error: str
) -> Alert:
    return Alert(
        kind="trigger",
        severity=SEVERITY_BY_OUTCOME["run_failure"],
        dataset=dataset,
        title=f"[CRITICAL] {dataset}: run of {job} failed",
        incident_key=incident_key(dataset, job, "run_failure"),
        job=job,
        asset=None,
        check="run_failure",
        partition=partition,
        run_id=run_id,
        owner=owner_of(contract),
        summary=safe_summary(error),
    )


def review_required_alert(
    contract: Contract,
    *,
    partition: str,
    reason: str,
    run_id: str | None = None,
    facts: dict | None = None,
    asset: str | None = None,
    check: str | None = None,
    related=(),
) -> Alert:
    """A file waits for a human decision (defs/review.py): one incident per file, resolved by the decision.

    `related`: one line per other finding on the same file (history anomalies, WARN checks), listed
    here instead of each arriving as an alert of its own."""
    related = list(related)
    summary = safe_summary(reason)
    if related:
        summary += "\n\nRelated findings on this file:\n" + "\n".join(f"- {line}" for line in related[:10])
    return Alert(
        kind="review_required",
        severity=SEVERITY_BY_OUTCOME["review_required"],
        dataset=contract.name,
        title=f"[MEDIUM] {contract.name}: review required for {partition}",
        incident_key=incident_key(contract.name, partition, "review_required"),
        asset=asset,
        check=check,
        partition=partition,
        run_id=run_id,
        owner=owner_of(contract),
        summary=summary,
        facts={**_facts(facts or {}), **({"related_findings": len(related)} if related else {})},
    )


def resolution_of(alert: Alert, *, run_id: str | None, partition: str | None) -> Alert:
    return Alert(
        kind="resolve",
        severity=alert.severity,
        dataset=alert.dataset,
        title=f"[RESOLVED] {alert.title.split('] ', 1)[-1]}",
        incident_key=alert.incident_key,
        asset=alert.asset,
        check=alert.check,
        job=alert.job,
        partition=partition,
        run_id=run_id,
        owner=alert.owner,
        summary="Passing again.",
        occurrences=alert.occurrences,
        failing_since=alert.failing_since,
    )


def owner_of(contract: Contract | None) -> str | None:
    if contract is None:
        return None
    return contract.alerts.owner or contract.owner


_LONG = 600

# Exceptions this project raises are written without data values (file, line, rule, counts).
VALUE_FREE_ERRORS = {
    "SourceFileError",
    "ContractError",
    "LandingFileChanged",
    "MaskingKeyError",
    "DagsterAssetCheckFailedError",
    names.GATES_FAILED_ERROR,
}
_QUOTED = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_EMAILISH = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*")
_DIGITS = re.compile(r"\+?\d[\d\s().\-]{6,}\d")


def scrub_error(cls_name: str | None, message: str) -> str:
    """An exception message fit for an alert: any other library's message may quote a data value
    ("could not convert string to float: 'Jane'"), so its quoted literals, email-like strings and
    long digit runs are replaced; this project's own errors are kept as written (value-free)."""
    if cls_name in VALUE_FREE_ERRORS:
        return message
    message = _QUOTED.sub("'…'", message)
    return _DIGITS.sub("#…", _EMAILISH.sub("…@…", message))


def safe_summary(text: str | None) -> str:
    """The check's description, first lines only: written by this project's code from counts."""
    if not text:
        return ""
    text = "\n".join(text.strip().splitlines()[:6])
    return text if len(text) <= _LONG else text[:_LONG] + "..."


# -- routing -----------------------------------------------------------------------------


def routes(severity: Severity, contract: Contract | None, configured: set[str]) -> list[str]:
    """Channels that receive an alert of this severity for this dataset.

    `configured`: channels whose environment variables are set (console is always there).
    """
    overrides = contract.alerts if contract is not None else None
    allowed = set(overrides.channels) if overrides and overrides.channels else set(ALERT_CHANNELS)
    out = []
    for channel in ALERT_CHANNELS:
        if channel not in configured or channel not in allowed:
            continue
        minimum = (overrides.severities.get(channel) if overrides else None) or DEFAULT_MIN_SEVERITY[channel]
        if severity.rank >= minimum.rank:
            out.append(channel)
    return out


# -- dedup / reminder / resolution -------------------------------------------------------


def reminder_period(contract: Contract | None) -> dt.timedelta:
    text = (
        (contract.alerts.reminder_after if contract is not None else None)
        or settings.get("DQ_ALERT_REMINDER_AFTER")
        or DEFAULT_REMINDER
    )
    return parse_duration(text)


class Incidents:
    """Open incidents by key, as JSON: {key: {alert, opened, last_sent, occurrences}}.

    `observe()` turns one evaluation into at most one alert: a trigger on the first failure, nothing
    while it keeps failing (until the reminder period has passed), a resolve on the next pass.
    """

    def __init__(self, state: dict | None = None, outbox: list | None = None):
        self.open: dict[str, dict] = dict(state or {})
        # Deliveries that failed on some channels, re-sent on later ticks: [{alert, channels, first_failed}]
        self.outbox: list[dict] = list(outbox or [])

    def to_json(self) -> dict:
        return self.open

    def observe(self, alert: Alert, passed: bool, now: dt.datetime, reminder: dt.timedelta) -> Alert | None:
        key = alert.incident_key
        current = self.open.get(key)
        if passed:
            if current is None:
                return None
            del self.open[key]
            return resolution_of(alert_from(current["alert"]), run_id=alert.run_id, partition=alert.partition)
        if current is None:
            alert.failing_since = now.isoformat(timespec="seconds")
            self.open[key] = {
                "alert": alert.to_dict(),
                "opened": now.timestamp(),
                "last_sent": now.timestamp(),
                "occurrences": 1,
            }
            return alert
        current["occurrences"] += 1
        escalated = alert.severity.rank > Severity(current["alert"]["severity"]).rank
        since = current["alert"].get("failing_since")
        current["alert"] = {
            **alert.to_dict(),
            "failing_since": since,
            "alert_id": alert.alert_id if escalated else current["alert"]["alert_id"],
        }
        if escalated:  # e.g. a WARN check now fails at ERROR: a new, louder trigger for the same incident
            current["last_sent"] = now.timestamp()
            alert.failing_since, alert.occurrences = since, current["occurrences"]
            return alert
        return self._remind_if_due(key, now, reminder)

    def reminders(self, now: dt.datetime, reminder_for) -> list[Alert]:
        """Reminders for incidents quiet for longer than their period (no new evaluation needed)."""
        out = []
        for key in list(self.open):
            a = self._remind_if_due(key, now, reminder_for(self.open[key]["alert"]["dataset"]))
            if a is not None:
                out.append(a)
        return out

    def _remind_if_due(self, key: str, now: dt.datetime, reminder: dt.timedelta) -> Alert | None:
        current = self.open[key]
        if now.timestamp() - current["last_sent"] < reminder.total_seconds():
            return None
        current["last_sent"] = now.timestamp()
        alert = alert_from(current["alert"])
        alert.kind = "reminder"
        alert.occurrences = current["occurrences"]
        alert.alert_id = uuid.uuid4().hex[:12]
        alert.title = f"[REMINDER] {alert.title}"
        return alert


def alert_from(d: dict) -> Alert:
    d = {k: v for k, v in d.items() if k not in ("run_url", "asset_url")}
    d["severity"] = Severity(d["severity"])
    d["top_rules"] = [tuple(r) for r in d.get("top_rules", [])]
    return Alert(**d)


def dumps_state(position, incidents: Incidents) -> str:
    """A sensor cursor: its position in the event log (a storage id, or execution ids per check), the open
    incidents, and the outbox of deliveries still to retry."""
    return json.dumps(
        {"position": position, "incidents": incidents.to_json(), "outbox": incidents.outbox}, sort_keys=True
    )


def loads_state(cursor: str | None, default=None):
    if not cursor:
        return default, Incidents()
    data = json.loads(cursor)
    return data.get("position", default), Incidents(data.get("incidents"), data.get("outbox"))


def redelivery_window() -> dt.timedelta:
    """How long a delivery that failed keeps being retried on later ticks (DQ_ALERT_REDELIVER_WITHIN, 24h)."""
    return parse_duration(settings.get("DQ_ALERT_REDELIVER_WITHIN"))


_FOLDED_OUTCOMES = frozenset({"history_warn", "history_error", "anomaly_warn", "anomaly_error", "check_warn"})


def held_file_findings(records, runs: dict, index: dict, incidents: Incidents) -> dict:
    """{(dataset, partition): {record id: one line}}: what else failed on a file that waits for review
    (history anomalies, WARN checks), so its review alert lists them instead of each paging alone.

    A file is held when this tick holds its failed human_review check, or its review incident is open."""

    def where(record, ev):
        run = runs.get(record.run_id) if record.run_id else None
        return ev.partition or (run.tags.get(names.PARTITION_TAG) if run else None)

    held = set()
    for record in records:
        ev = record.event.dagster_event.event_specific_data
        contract = index.get(ev.asset_key.to_user_string())
        if ev.check_name == names.REVIEW_CHECK and not ev.passed and contract is not None:
            held.add((contract.name, where(record, ev)))
    out: dict = {}
    for record in records:
        ev = record.event.dagster_event.event_specific_data
        contract = index.get(ev.asset_key.to_user_string())
        if contract is None or ev.passed or ev.check_name == names.REVIEW_CHECK:
            continue
        if outcome_for_check(ev.check_name, ev.severity.value) not in _FOLDED_OUTCOMES:
            continue
        key = (contract.name, where(record, ev))
        if key in held or incident_key(contract.name, key[1], "review_required") in incidents.open:
            text = safe_summary(ev.description).splitlines()[0] if ev.description else "failed"
            out.setdefault(key, {})[record.id] = f"{ev.asset_key.to_user_string()}.{ev.check_name}: {text}"
    return out
