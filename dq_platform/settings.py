"""Every environment variable the platform reads, with its default, in one visible place.

`VARIABLES` is the list: name, default, what it does, whether it is a secret. Modules read a
setting with `get()` (or `flag()` / `number()`), never `os.environ`, so a variable that is not
listed here cannot be read at all, and `dq-platform settings` can show what is configured (names and
whether set; a secret's value is never printed). Variables a contract names itself (e.g.
`source.sql.url_env`, `publish.postgres.url_env`) are read where the contract says.

Dagster resources built from these (defs/resources.py) put the same settings on the UI's
resources page, secrets as environment-variable references only.

Embedded default: everything under the project folder (the current directory), SQLite
Dagster storage in a persistent `.dagster_home` — never the temporary instance `dagster dev`
makes, which would delete the audit log on exit.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

CONTRACTS_DIR = Path(__file__).parent / "contracts"  # the shipped contracts


@dataclass(frozen=True)
class Variable:
    name: str
    default: str | None
    help: str
    group: str
    secret: bool = False


VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in [
        # where things live
        Variable("DQ_PROJECT_DIR", None, "project folder (default: the current directory)", "locations"),
        Variable("DAGSTER_HOME", None, "Dagster instance folder (default: <project>/.dagster_home)", "locations"),
        Variable(
            "DQ_WAREHOUSE_URI",
            None,
            "Delta tables: a folder or s3://bucket/prefix (default: <project>/warehouse)",
            "locations",
        ),
        Variable(
            "DQ_LANDING_URI",
            None,
            "landing zone: a folder or s3://bucket/prefix (default: <project>/landing)",
            "locations",
        ),
        Variable("DQ_LANDING_DIR", None, "landing zone folder (older name of DQ_LANDING_URI)", "locations"),
        Variable(
            "DQ_CONTRACTS_DIR", None, "folder of contract YAML files (default: the shipped contracts)", "locations"
        ),
        # Dagster's storage
        Variable(
            "DAGSTER_PG_URL", None, "PostgreSQL URL of Dagster's storage (production mode)", "instance", secret=True
        ),
        Variable("DAGSTER_PG_HOST", None, "PostgreSQL host (production mode, with _USER, _PASSWORD, _DB)", "instance"),
        Variable("DAGSTER_PG_USER", None, "PostgreSQL user", "instance"),
        Variable("DAGSTER_PG_PASSWORD", None, "PostgreSQL password", "instance", secret=True),
        Variable("DAGSTER_PG_DB", None, "PostgreSQL database", "instance"),
        # masking
        Variable(
            "DQ_MASKING_KEY", None, "secret key of the deterministic masking (>= 16 characters)", "masking", secret=True
        ),
        Variable(
            "DQ_ALLOW_DEV_MASKING_KEY",
            "0",
            "1: mask with the public development key when DQ_MASKING_KEY is unset "
            "(demo and `dq-platform ui --demo-key` only)",
            "masking",
        ),
        # PII detection
        Variable(
            "DQ_PHONE_REGIONS",
            "US,CA,GB,DE,FR,ES,IT,NL,IN,AU",
            "regions (ISO 3166 codes) whose national phone formats the PII detector recognizes; "
            "numbers written with + or 00 and a country code are recognized for every region",
            "pii",
        ),
        # S3 (standard AWS variables; credentials are read by boto3 and Arrow themselves)
        Variable("AWS_ENDPOINT_URL", None, "S3-compatible endpoint (MinIO, a loopback test server)", "s3"),
        Variable("AWS_REGION", None, "AWS region", "s3"),
        Variable("AWS_DEFAULT_REGION", None, "AWS region (when AWS_REGION is unset)", "s3"),
        Variable("AWS_ACCESS_KEY_ID", None, "AWS access key id", "s3"),
        Variable("AWS_SECRET_ACCESS_KEY", None, "AWS secret access key", "s3", secret=True),
        Variable("AWS_SESSION_TOKEN", None, "AWS session token", "s3", secret=True),
        Variable("AWS_PROFILE", None, "AWS profile", "s3"),
        Variable("AWS_CONFIG_FILE", None, "AWS config file", "s3"),
        Variable("AWS_SHARED_CREDENTIALS_FILE", None, "AWS shared credentials file", "s3"),
        Variable("AWS_ALLOW_HTTP", None, "true: allow http:// endpoints (local S3 servers)", "s3"),
        Variable("AWS_CONDITIONAL_PUT", "etag", "how Delta commits avoid two writers creating one version", "s3"),
        Variable("DQ_S3_SSE", None, "server-side encryption of every object written: aws:kms or AES256", "s3"),
        Variable("DQ_S3_KMS_KEY_ID", None, "KMS key id or ARN for DQ_S3_SSE=aws:kms", "s3"),
        # alerts
        Variable("DQ_ALERT_CONSOLE", "on", "off: no console channel", "alerts"),
        Variable("DQ_ALERT_FILE", None, "append console alerts to this file instead of stdout", "alerts"),
        Variable("DQ_SLACK_WEBHOOK_URL", None, "Slack incoming webhook (the URL is the secret)", "alerts", secret=True),
        Variable("DQ_ALERT_WEBHOOK_URL", None, "generic JSON webhook", "alerts", secret=True),
        Variable("DQ_PAGERDUTY_ROUTING_KEY", None, "PagerDuty Events v2 routing key", "alerts", secret=True),
        Variable(
            "DQ_PAGERDUTY_EVENTS_URL",
            "https://events.pagerduty.com/v2/enqueue",
            "PagerDuty Events API URL (a proxy's may carry a token)",
            "alerts",
            secret=True,
        ),
        Variable("DQ_SMTP_HOST", None, "SMTP server for email alerts", "alerts"),
        Variable("DQ_SMTP_PORT", "587", "SMTP port", "alerts"),
        Variable("DQ_SMTP_USER", None, "SMTP user", "alerts"),
        Variable("DQ_SMTP_PASSWORD", None, "SMTP password", "alerts", secret=True),
        Variable("DQ_SMTP_STARTTLS", "0", "1: STARTTLS before logging in", "alerts"),
        Variable("DQ_ALERT_EMAIL_TO", None, "comma-separated recipients of email alerts", "alerts"),
        Variable("DQ_ALERT_EMAIL_FROM", "dq-platform@localhost", "sender of email alerts", "alerts"),
        Variable("DQ_ALERT_RETRIES", "3", "delivery attempts after the first", "alerts"),
        Variable("DQ_ALERT_RETRY_BACKOFF", "0.5", "seconds, doubled per retry", "alerts"),
        Variable("DQ_ALERT_TIMEOUT_SECONDS", "10", "timeout of one delivery", "alerts"),
        Variable(
            "DQ_ALERT_REMINDER_AFTER",
            "4h",
            "remind of an open incident after this long (contract may override)",
            "alerts",
        ),
        Variable("DQ_ALERT_REDELIVER_WITHIN", "24h", "retry failed deliveries for this long", "alerts"),
        Variable(
            "DQ_ALERT_SENSOR_INTERVAL_SECONDS",
            "10",
            "how often the alert sensors tick (streams alert within a minute)",
            "alerts",
        ),
        Variable(
            "DQ_WEBSERVER_URL", "http://127.0.0.1:3000", "the Dagster UI's address, for links in alerts", "alerts"
        ),
        Variable(
            "DQ_REPORTS_URL",
            "http://127.0.0.1:3001",
            "where the local warehouse's reports/ folder is served over HTTP, for one-click report links in the "
            "UI (`dq-platform ui` serves it beside the webserver, port + 1, and sets this for what it starts; "
            "S3 warehouses get pre-signed URLs instead)",
            "alerts",
        ),
        Variable("DQ_REPORT_LINK_TTL", "7d", "how long a pre-signed S3 report link stays valid (at most 7d)", "alerts"),
        # review
        Variable(
            "DQ_REVIEW_AUTO_APPROVE", "0", "1: publish files above the review threshold without a reviewer", "review"
        ),
        # running
        Variable(
            "DQ_LOG_LEVEL",
            "WARNING",
            "console log level of CLI and demo runs (the instance gets every event)",
            "runtime",
        ),
        Variable("DQ_THREADS", None, "threads for per-column work (default: the machine's cores)", "runtime"),
        Variable(
            "DQ_CHUNK_MB",
            None,
            "source megabytes per chunk (default: 64, fewer for a file that would leave workers idle)",
            "runtime",
        ),
        Variable(
            "DQ_STEP_PROCESSES_ABOVE_MB",
            None,
            "files above this size run a process per step (default: never; chunks bound memory)",
            "runtime",
        ),
        Variable(
            "DQ_WORKERS",
            None,
            "processes that run a file's chunks at once on this machine (default: the machine's cores; "
            "1: in the run's own process)",
            "runtime",
        ),
        Variable(
            "DQ_DASK_SCHEDULER",
            None,
            "run chunks on this Dask cluster instead, e.g. tcp://10.0.0.5:8786 (the warehouse and landing "
            "zone must then be reachable from every worker: a shared folder or s3://)",
            "runtime",
        ),
        Variable(
            "DQ_MAX_SOURCE_BYTES",
            None,
            "largest file that cannot be cut into chunks read in one piece (default: a sixteenth of memory)",
            "runtime",
        ),
        Variable(
            "DQ_MAX_RECORD_BYTES",
            "64M",
            "longest CSV header or record (a quoted value may span lines); longer is a clear error naming the line",
            "runtime",
        ),
        Variable("DQ_SENSOR_INTERVAL_SECONDS", "30", "how often the landing sensors tick", "runtime"),
        Variable(
            "DQ_BATCH_FILES",
            "25",
            "most new files of a dataset one run takes when several wait (each keeps its own pipeline run); 1: a run per file",
            "runtime",
        ),
        Variable("DQ_RETRY_ATTEMPTS", "3", "runs of a file whose run died before the sensor gives up on it", "runtime"),
        Variable(
            "DQ_RETRY_BACKOFF_SECONDS", "60", "wait before retrying a file whose run died; doubled per retry", "runtime"
        ),
        # crash tests only (dq_platform/faults.py): never set in production
        Variable("DQ_FAULT_AT", None, "crash tests: the fault point where this process is killed or paused", "testing"),
        Variable("DQ_FAULT_ACTION", "kill", "crash tests: kill (SIGKILL) or pause at DQ_FAULT_AT", "testing"),
        Variable("DQ_FAULT_DIR", None, "crash tests: folder of a paused point's .reached/.release files", "testing"),
        # services: the data API and the dashboard
        Variable(
            "DQ_API_TOKEN",
            None,
            "bearer token the data API requires (unset: no token, for a trusted network)",
            "services",
            secret=True,
        ),
        Variable(
            "DQ_API_CORS_ORIGINS",
            None,
            "comma-separated origins browsers may call the data API from (unset: none)",
            "services",
        ),
        Variable(
            "DQ_API_CACHE_SECONDS",
            "30",
            "how long the data API reuses its KPI answers (/status, /health); 0: compute every time",
            "services",
        ),
        Variable(
            "DQ_DASHBOARD_CACHE_SECONDS", "60", "how long the dashboard keeps data before reading again", "services"
        ),
        # Kafka streams (contracts with source.stream.kafka; io/kafka.py)
        Variable(
            "DQ_KAFKA_BOOTSTRAP_SERVERS",
            None,
            "host:port of the Kafka brokers, for streams whose contract names none",
            "kafka",
        ),
        Variable("DQ_STREAM_SENSOR_INTERVAL_SECONDS", "5", "how often the stream sensors drain a batch", "kafka"),
        *(
            Variable(f"DQ_KAFKA_{prop.upper().replace('.', '_')}", None, f"librdkafka's {prop}", "kafka", secret=secret)
            for prop, secret in [
                ("security.protocol", False),
                ("sasl.mechanism", False),
                ("sasl.username", False),
                ("sasl.password", True),
                ("sasl.oauthbearer.client.id", False),
                ("sasl.oauthbearer.client.secret", True),
                ("sasl.oauthbearer.token.endpoint.url", False),
                ("ssl.ca.location", False),
                ("ssl.certificate.location", False),
                ("ssl.key.location", False),
                ("ssl.key.password", True),
                ("ssl.endpoint.identification.algorithm", False),
            ]
        ),
    ]
}

_TRUE = ("1", "true", "yes", "on")


def get(name: str, default: str | None = None) -> str | None:
    """The variable's value (stripped), else `default`, else its listed default. Unlisted names raise."""
    var = VARIABLES[name]
    value = os.environ.get(name, "").strip()
    return value or (default if default is not None else var.default)


def flag(name: str) -> bool:
    return (get(name) or "").lower() in _TRUE


def number(name: str, kind=float):
    """A numeric setting; a malformed value is a clear error naming the variable (never a traceback)."""
    text = get(name)
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise SettingsError(f"{name} must be a number, not {text!r}") from None


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def byte_size(name: str) -> int | None:
    """A size setting in bytes, with an optional binary suffix (2000000000, 512M, 2G); None when unset."""
    text = get(name) or ""
    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if not m:
        raise SettingsError(f"{name}={text!r}: expected a number of bytes, e.g. 2000000000 or 2G")
    return int(float(m[1]) * _UNITS[m[2].upper()])


def workers() -> int:
    """DQ_WORKERS: a whole number >= 1; unset: the cores this process may run on."""
    text = get("DQ_WORKERS")
    if not text:
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(f"DQ_WORKERS must be a whole number of processes >= 1, not {text!r}")
    return int(text)


def dask_scheduler() -> str | None:
    """DQ_DASK_SCHEDULER as a Dask address (tcp:// or tls://host:port; a bare host:port means tcp://), or None."""
    text = get("DQ_DASK_SCHEDULER")
    if not text:
        return None
    address = text if "://" in text else f"tcp://{text}"
    if not re.fullmatch(r"(tcp|tls)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):\d{1,5}", address):
        raise SettingsError(
            f"DQ_DASK_SCHEDULER must be a Dask scheduler address like tcp://10.0.0.5:8786, not {text!r}"
        )
    return address


def is_set(name: str) -> bool:
    return bool(os.environ.get(VARIABLES[name].name, "").strip())


def describe() -> list[dict]:
    """Every variable with its default and whether it is set; a secret's value is never included."""
    out = []
    for v in VARIABLES.values():
        value = None if v.secret else (os.environ.get(v.name, "").strip() or None)
        out.append(
            {
                "name": v.name,
                "group": v.group,
                "set": is_set(v.name),
                "value": value,
                "default": v.default,
                "secret": v.secret,
                "help": v.help,
            }
        )
    return out


def _is_project(folder: Path) -> bool:
    return (folder / ".dagster_home").is_dir() or (folder / "workspace.yaml").is_file()


def project_dir() -> Path:
    """DQ_PROJECT_DIR; else the nearest folder from the current one upwards that holds a project
    (`.dagster_home` or `workspace.yaml`); else the checkout this package runs from, when it has an
    instance; else the current folder. So the CLI finds the project's instance from any folder."""
    explicit = get("DQ_PROJECT_DIR")
    if explicit:
        return Path(explicit).resolve()
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_project(folder):
            return folder
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / ".dagster_home").is_dir() else cwd


def dagster_home() -> Path:
    return Path(get("DAGSTER_HOME") or project_dir() / ".dagster_home").resolve()


def warehouse_uri() -> str:
    return get("DQ_WAREHOUSE_URI") or str(project_dir() / "warehouse")


def landing_uri() -> str:
    return get("DQ_LANDING_URI") or get("DQ_LANDING_DIR") or str(project_dir() / "landing")


def contracts_dir() -> Path:
    return Path(get("DQ_CONTRACTS_DIR") or CONTRACTS_DIR)


class SettingsError(ValueError):
    """An environment that cannot be turned into a configuration (names the variables, never values)."""


PG_PART_VARS = ("DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB")


def instance_mode(env=None) -> str:
    """'production' (PostgreSQL) when DAGSTER_PG_URL or all DAGSTER_PG_HOST/... are set, else 'embedded'."""
    env = os.environ if env is None else env
    if env.get("DAGSTER_PG_URL"):
        return "production"
    present = [v for v in PG_PART_VARS if env.get(v)]
    if present and len(present) < len(PG_PART_VARS):
        missing = ", ".join(v for v in PG_PART_VARS if not env.get(v))
        raise SettingsError(
            f"PostgreSQL storage needs DAGSTER_PG_URL, or all of {', '.join(PG_PART_VARS)}: {missing} not set"
        )
    return "production" if present else "embedded"


def render_instance_config(template: Path, env=None) -> str:
    """DAGSTER_HOME/dagster.yaml for this environment, from the repository's dagster.yaml.

    Dagster's yaml cannot branch, so the template holds both modes. The result only refers to
    variables ({env: DAGSTER_PG_URL}), so no secret is ever written to disk or printed.
    """
    import yaml

    env = os.environ if env is None else env
    sections = yaml.safe_load(template.read_text())
    mode = instance_mode(env)
    config = {**sections.get("common", {}), **sections.get(mode, {})}
    if mode == "production":
        config["storage"] = sections["postgres_storage"]["url" if env.get("DAGSTER_PG_URL") else "parts"]
    header = (
        f"# Rendered by dq-platform from {template.name} for {mode} mode "
        f"({'PostgreSQL' if mode == 'production' else 'SQLite'}): edit that file, not this one.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False)


def check_instance_database(env=None, timeout_s: int = 5) -> None:
    """Production mode: one quick connection to Dagster's PostgreSQL storage, so a wrong URL is one
    line naming host, port, database and role (never the password) instead of Dagster's retries
    and a long traceback. Embedded mode: nothing to check."""
    env = os.environ if env is None else env
    if instance_mode(env) != "production":
        return
    import psycopg2  # dagster-postgres' driver

    url = env.get("DAGSTER_PG_URL")
    if url:
        from sqlalchemy.engine import make_url

        try:
            u = make_url(url)
        except Exception:
            raise SettingsError(
                "DAGSTER_PG_URL is not a URL of the form postgresql://user:password@host:5432/db"
            ) from None
        where = {"host": u.host or "localhost", "port": u.port or 5432, "dbname": u.database, "user": u.username}
        secret, source = u.password, "DAGSTER_PG_URL"
    else:
        where = {
            "host": env["DAGSTER_PG_HOST"],
            "port": 5432,
            "dbname": env["DAGSTER_PG_DB"],
            "user": env["DAGSTER_PG_USER"],
        }
        secret, source = env.get("DAGSTER_PG_PASSWORD"), "DAGSTER_PG_HOST/_USER/_PASSWORD/_DB"
    try:
        psycopg2.connect(
            **{k: v for k, v in where.items() if v is not None}, password=secret, connect_timeout=timeout_s
        ).close()
    except psycopg2.Error as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        reason = " ".join((lines[0] if lines else type(e).__name__).split("failed: ", 1)[-1].split())
        if secret:
            reason = reason.replace(str(secret), "***")
        raise SettingsError(
            f"Dagster's PostgreSQL storage ({source}) is unreachable: host {where['host']}, port {where['port']}, "
            f"database {where['dbname']!r}, role {where['user']!r}: {reason}"
        ) from None


def existing_dagster_home() -> Path:
    """For commands that only read (or change what exists): the instance must be there already. A
    missing one is a clear error naming the folder looked at, never an empty instance created by reading."""
    home = dagster_home()
    # production mode keeps the instance in PostgreSQL: the folder only holds its rendered dagster.yaml
    if not home.is_dir() and instance_mode() == "embedded":
        how = (
            "DAGSTER_HOME as set"
            if is_set("DAGSTER_HOME")
            else f"the default <project>/.dagster_home, project {project_dir()}"
        )
        raise SettingsError(
            f"no Dagster instance at {home} ({how}): run from the project folder, or set "
            f"DAGSTER_HOME=/path/to/project/.dagster_home (or DQ_PROJECT_DIR=/path/to/project); "
            f"`dq-platform demo` or `dq-platform ingest` creates one"
        )
    return ensure_dagster_home()


def ensure_dagster_home() -> Path:
    """Create the persistent instance folder, render its dagster.yaml, export DAGSTER_HOME; in
    production mode check that its PostgreSQL storage answers."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    repo_config = project_dir() / "dagster.yaml"
    if repo_config.exists():
        text = render_instance_config(repo_config)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    check_instance_database()
    return home
