"""Alert channels, each a thin client over its real protocol, configured from environment variables.

console   (always on)  DQ_ALERT_FILE (append there instead of stdout), DQ_ALERT_CONSOLE=off disables
slack                  DQ_SLACK_WEBHOOK_URL (incoming webhook; the URL is the secret), Block Kit
email                  DQ_SMTP_HOST, DQ_SMTP_PORT, DQ_SMTP_USER, DQ_SMTP_PASSWORD, DQ_SMTP_STARTTLS,
                       DQ_ALERT_EMAIL_FROM, DQ_ALERT_EMAIL_TO (comma-separated); text + HTML
pagerduty              DQ_PAGERDUTY_ROUTING_KEY, DQ_PAGERDUTY_EVENTS_URL (Events API v2 endpoint)
webhook                DQ_ALERT_WEBHOOK_URL: the alert as JSON

HTTP retries are urllib3's `Retry` on a requests Session (connect errors, read timeouts, 429 and
5xx, POST included, exponential backoff). Every error message leaving this module goes through
`redact()`: requests/urllib3 put the URL (Slack's URL *is* the secret) into their exceptions.
"""

import html
import logging
import smtplib
import sys
import time
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import quote, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from dq_platform import settings
from dq_platform.alerts.policy import Alert

REDACTED = "***"


# -- secrets -----------------------------------------------------------------------------


def secret_values() -> list[str]:
    """Every secret currently configured (settings.VARIABLES marks them), with the forms they take inside
    error messages."""
    out: set[str] = set()
    for var in settings.VARIABLES.values():
        if not var.secret or not settings.is_set(var.name):
            continue
        value = settings.get(var.name)
        out |= {value, quote(value, safe="")}
        parts = urlsplit(value)
        if parts.scheme and parts.netloc:  # urllib3 errors quote the path alone: "url: /services/T/B/X"
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            if len(parts.path) > 1:
                out |= {path, parts.path}
            if parts.password:
                out.add(parts.password)
    return sorted((s for s in out if len(s) >= 4), key=len, reverse=True)


def redact(text: object, secrets: list[str] | None = None) -> str:
    text = str(text)
    for s in secret_values() if secrets is None else secrets:
        text = text.replace(s, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """urllib3 logs each request line at DEBUG ("POST /services/T/B/X"): scrub secrets from it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        if secrets:
            message = record.getMessage()
            clean = redact(message, secrets)
            if clean != message:
                record.msg, record.args = clean, ()
        return True


_FILTER = RedactingFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    if _FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_FILTER)


# -- delivery outcome -------------------------------------------------------------------


@dataclass
class Delivery:
    channel: str
    status: str  # delivered | failed
    attempts: int
    error: str = ""  # redacted


class DeliveryError(Exception):
    """A channel gave up; `attempts` says how many tries were made."""

    def __init__(self, message: str, attempts: int):
        super().__init__(message)
        self.attempts = attempts


def _env_float(name: str, default: float) -> float:
    return float(settings.get(name) or default)


def http_session() -> requests.Session:
    retry = Retry(
        total=settings.number("DQ_ALERT_RETRIES", int),
        backoff_factor=_env_float("DQ_ALERT_RETRY_BACKOFF", 0.5),
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"POST"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    session = requests.Session()
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def post_json(url: str, payload: dict) -> int:
    """POST with retries; returns the attempts made, raises DeliveryError (redacted) on failure."""
    timeout = _env_float("DQ_ALERT_TIMEOUT_SECONDS", 10)
    with http_session() as session:
        try:
            response = session.post(url, json=payload, timeout=timeout)
        except requests.RequestException as e:
            retries = settings.number("DQ_ALERT_RETRIES", int)
            raise DeliveryError(f"{type(e).__name__}: {redact(e)}", attempts=retries + 1) from None
        history = getattr(getattr(response.raw, "retries", None), "history", ()) or ()
        attempts = len(history) + 1
        if response.status_code >= 300:
            raise DeliveryError(f"HTTP {response.status_code}: {redact(response.text[:200])}", attempts=attempts)
        return attempts


# -- channels ----------------------------------------------------------------------------


class Channel:
    name = ""

    def configured(self) -> bool:
        raise NotImplementedError

    def send(self, alert: Alert) -> int:
        """Deliver; return the attempts made. Raise DeliveryError (or anything) on failure."""
        raise NotImplementedError


class ConsoleChannel(Channel):
    """The embedded default: prints the alert (or appends it to DQ_ALERT_FILE)."""

    name = "console"

    def __init__(self, stream=None):
        self.stream = stream

    def configured(self) -> bool:
        return (settings.get("DQ_ALERT_CONSOLE") or "on").lower() not in ("off", "0", "false", "no")

    def send(self, alert: Alert) -> int:
        text = f"--- dq_platform alert ({alert.kind}) ---\n{alert.text()}\n"
        path = settings.get("DQ_ALERT_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as f:
                f.write(text + "\n")
        else:
            print(text, file=self.stream or sys.stdout, flush=True)
        return 1


def slack_blocks(alert: Alert) -> dict:
    """Block Kit: header, summary, fields, top rules, link buttons; `text` is the notification fallback."""
    fields = [
        {"type": "mrkdwn", "text": f"*{label}*\n{value}"}
        for label, value in (
            ("Dataset", alert.dataset),
            ("Asset", alert.asset),
            ("Check", alert.check),
            ("Severity", alert.severity.value),
            ("Partition", alert.partition),
            ("Run", alert.run_id),
            ("Owner", alert.owner),
            ("Occurrences", alert.occurrences if alert.occurrences > 1 else None),
        )
        if value
    ][:10]
    blocks: list[dict] = [{"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}}]
    if alert.summary:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": alert.summary[:2900]}})
    blocks.append({"type": "section", "fields": fields})
    if alert.facts:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": ", ".join(f"{k}: {v}" for k, v in alert.facts.items())[:2900]}],
            }
        )
    if alert.top_rules:
        rows = "\n".join(f"`{r}`  {n} rows  {s}" for r, n, s in alert.top_rules)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Top failing rules*\n{rows}"[:2900]}})
    web_report = alert.report if alert.report and alert.report.startswith(("http://", "https://")) else None
    if alert.report and not web_report:  # a path or s3:// URI: Slack buttons take web links only
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Report: `{alert.report}`"}]})
    buttons = [
        {"type": "button", "text": {"type": "plain_text", "text": label}, "url": url}
        for label, url in (("Open run", alert.run_url), ("Open asset", alert.asset_url), ("Open report", web_report))
        if url
    ]
    if buttons:
        blocks.append({"type": "actions", "elements": buttons})
    return {"text": alert.title, "blocks": blocks}


class SlackChannel(Channel):
    name = "slack"

    def configured(self) -> bool:
        return settings.is_set("DQ_SLACK_WEBHOOK_URL")

    def send(self, alert: Alert) -> int:
        return post_json(settings.get("DQ_SLACK_WEBHOOK_URL"), slack_blocks(alert))


class WebhookChannel(Channel):
    name = "webhook"

    def configured(self) -> bool:
        return settings.is_set("DQ_ALERT_WEBHOOK_URL")

    def send(self, alert: Alert) -> int:
        return post_json(settings.get("DQ_ALERT_WEBHOOK_URL"), {"source": "dq_platform", **alert.to_dict()})


PAGERDUTY_SEVERITY = {"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info"}


def pagerduty_event(alert: Alert, routing_key: str) -> dict:
    """Events API v2: trigger (reminders re-trigger: PagerDuty folds them into the open incident) or resolve."""
    if alert.kind == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": alert.incident_key}
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": alert.incident_key,
        "payload": {
            "summary": alert.title[:1024],
            "source": "dq_platform",
            "severity": PAGERDUTY_SEVERITY[alert.severity.value],
            "component": alert.asset or alert.job,
            "group": alert.dataset,
            "class": alert.check,
            "custom_details": {
                k: v
                for k, v in alert.to_dict().items()
                if k
                in (
                    "partition",
                    "run_id",
                    "owner",
                    "summary",
                    "facts",
                    "top_rules",
                    "occurrences",
                    "failing_since",
                    "report",
                )
            },
        },
        "links": [{"href": u, "text": t} for t, u in (("Run", alert.run_url), ("Asset", alert.asset_url)) if u],
    }


class PagerDutyChannel(Channel):
    name = "pagerduty"

    def configured(self) -> bool:
        return settings.is_set("DQ_PAGERDUTY_ROUTING_KEY")

    def send(self, alert: Alert) -> int:
        url = settings.get("DQ_PAGERDUTY_EVENTS_URL")
        return post_json(url, pagerduty_event(alert, settings.get("DQ_PAGERDUTY_ROUTING_KEY")))


def _href(location: str | None) -> str | None:
    """A link for a report location: web and s3:// URIs as they are, a local path as a file:// URI."""
    if not location or "://" in location:
        return location
    from pathlib import Path

    return Path(location).as_uri()


def email_message(alert: Alert, sender: str, recipients: list[str]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"], msg["From"], msg["To"] = alert.title, sender, ", ".join(recipients)
    msg.set_content(alert.text())
    rows = "".join(
        f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in (
            ("dataset", alert.dataset),
            ("asset", alert.asset),
            ("check", alert.check),
            ("partition", alert.partition),
            ("run", alert.run_id),
            ("owner", alert.owner),
            *alert.facts.items(),
        )
        if v is not None
    )
    rules = "".join(
        f"<tr><td><code>{html.escape(r)}</code></td><td>{html.escape(n)}</td><td>{html.escape(s)}</td></tr>"
        for r, n, s in alert.top_rules
    )
    links = " | ".join(
        f"<a href='{html.escape(u)}'>{t}</a>"
        for t, u in (("run", alert.run_url), ("asset", alert.asset_url), ("report", _href(alert.report)))
        if u
    )
    msg.add_alternative(
        f"<h3>{html.escape(alert.title)}</h3><p>{html.escape(alert.summary)}</p><table>{rows}</table>"
        + (f"<h4>Top failing rules</h4><table>{rules}</table>" if rules else "")
        + f"<p>{links}</p>",
        subtype="html",
    )
    return msg


class EmailChannel(Channel):
    name = "email"

    def __init__(self, extra_recipients: list[str] | None = None):
        self.extra = extra_recipients or []

    def configured(self) -> bool:
        return bool(settings.is_set("DQ_SMTP_HOST") and (settings.get("DQ_ALERT_EMAIL_TO") or self.extra))

    def send(self, alert: Alert) -> int:
        host, port = settings.get("DQ_SMTP_HOST"), settings.number("DQ_SMTP_PORT", int)
        to = [x.strip() for x in (settings.get("DQ_ALERT_EMAIL_TO") or "").split(",") if x.strip()] + self.extra
        msg = email_message(alert, settings.get("DQ_ALERT_EMAIL_FROM"), to)
        retries, backoff = settings.number("DQ_ALERT_RETRIES", int), _env_float("DQ_ALERT_RETRY_BACKOFF", 0.5)
        for attempt in range(1, retries + 2):
            try:
                with smtplib.SMTP(host, port, timeout=_env_float("DQ_ALERT_TIMEOUT_SECONDS", 10)) as smtp:
                    if settings.flag("DQ_SMTP_STARTTLS"):
                        smtp.starttls()
                    if settings.is_set("DQ_SMTP_USER"):
                        smtp.login(settings.get("DQ_SMTP_USER"), settings.get("DQ_SMTP_PASSWORD") or "")
                    smtp.send_message(msg)
                return attempt
            except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused) as e:  # retrying cannot help
                raise DeliveryError(f"{type(e).__name__}: {redact(e)}", attempts=attempt) from None
            except (OSError, smtplib.SMTPException) as e:
                if attempt > retries:
                    raise DeliveryError(f"{type(e).__name__}: {redact(e)}", attempts=attempt) from None
                time.sleep(backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")


def channels_for(contract=None, console_stream=None) -> dict[str, Channel]:
    """Every channel, configured or not, by name (email gets the contract's extra recipients)."""
    extra = list(contract.alerts.email_to) if contract is not None else []
    return {
        c.name: c
        for c in (
            ConsoleChannel(console_stream),
            SlackChannel(),
            EmailChannel(extra),
            PagerDutyChannel(),
            WebhookChannel(),
        )
    }
