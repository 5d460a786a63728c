"""Where things live, from environment variables, in one visible place.

Embedded default: everything under the project folder (the current directory), SQLite
Dagster storage in a persistent `.dagster_home` — never the temporary instance `dagster dev`
makes, which would delete the audit log on exit.
"""

from __future__ import annotations

import os
from pathlib import Path


def project_dir() -> Path:
    return Path(os.environ.get("DQ_PROJECT_DIR") or Path.cwd()).resolve()


def dagster_home() -> Path:
    return Path(os.environ.get("DAGSTER_HOME") or project_dir() / ".dagster_home").resolve()


def warehouse_uri() -> str:
    return os.environ.get("DQ_WAREHOUSE_URI") or str(project_dir() / "warehouse")


def landing_uri() -> str:
    return os.environ.get("DQ_LANDING_URI") or os.environ.get("DQ_LANDING_DIR") or str(project_dir() / "landing")


def contracts_dir() -> Path:
    from dq_platform.contract import CONTRACTS_DIR

    return Path(os.environ.get("DQ_CONTRACTS_DIR") or CONTRACTS_DIR)


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
        raise SettingsError(f"PostgreSQL storage needs DAGSTER_PG_URL, or all of {', '.join(PG_PART_VARS)}: "
                         f"{missing} not set")
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
    header = (f"# Rendered by dq-platform from {template.name} for {mode} mode "
              f"({'PostgreSQL' if mode == 'production' else 'SQLite'}): edit that file, not this one.\n")
    return header + yaml.safe_dump(config, sort_keys=False)


def ensure_dagster_home() -> Path:
    """Create the persistent instance folder, render its dagster.yaml, export DAGSTER_HOME."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    repo_config = project_dir() / "dagster.yaml"
    if repo_config.exists():
        text = render_instance_config(repo_config)
        if not config.exists() or config.read_text() != text:
            config.write_text(text)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
