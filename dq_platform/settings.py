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
    from .contract import CONTRACTS_DIR

    return Path(os.environ.get("DQ_CONTRACTS_DIR") or CONTRACTS_DIR)


def ensure_dagster_home() -> Path:
    """Create the persistent instance folder (and its dagster.yaml) and export DAGSTER_HOME."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    repo_config = project_dir() / "dagster.yaml"
    if repo_config.exists() and (not config.exists() or config.read_text() != repo_config.read_text()):
        config.write_text(repo_config.read_text())
    os.environ["DAGSTER_HOME"] = str(home)
    return home
