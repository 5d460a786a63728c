"""`dq-platform api|dashboard`: the read-only data API and the stakeholder dashboard, on the same instance and warehouse."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dq_platform import settings


def _api(args) -> int:
    import uvicorn

    settings.ensure_dagster_home()  # every worker reads the same persistent instance
    uvicorn.run(
        "dq_platform.services.api:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=args.log_level == "debug",
    )
    return 0


def _dashboard(args) -> int:
    """`streamlit run` on the dashboard's script, in this interpreter, with the project's settings."""
    from dq_platform.services import dashboard

    settings.ensure_dagster_home()
    script = Path(dashboard.__file__).parent / "app.py"
    env = {**os.environ, "DQ_PROJECT_DIR": str(settings.project_dir())}
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(script),
        "--server.port",
        str(args.port),
        "--server.address",
        args.host,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "minimal",
    ]
    # exec, not a child: stopping this process (Ctrl-C, SIGTERM from compose or a test) stops the server
    os.execve(sys.executable, command, env)
    return 0  # not reached


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    api = sub.add_parser(
        "api", help="the read-only data API (FastAPI): datasets, status, runs, checks, masked/gold/semantic tables"
    )
    api.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    api.add_argument("--port", type=int, default=8080)
    api.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    api.set_defaults(func=_api)
    dash = sub.add_parser("dashboard", help="the stakeholder dashboard (Streamlit): pipeline health, business pages")
    dash.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    dash.add_argument("--port", type=int, default=8501)
    dash.set_defaults(func=_dashboard)
