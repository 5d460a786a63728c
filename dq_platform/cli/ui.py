"""`dq-platform ui`: the Dagster UI and daemon on the persistent instance, with the reports beside it.

It supervises `dagster dev` rather than becoming it: beside the webserver it serves the local
warehouse's run reports over HTTP (so a report link in the UI opens in one click), under
`--demo-key` it answers the http sources with the demo's replay server (a fresh UI pages nobody
offline), and on SIGINT/SIGTERM it stops the webserver, the daemon and their runs within seconds:
SIGTERM to their process group, SIGKILL after a short grace.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from dq_platform import settings
from dq_platform.contract import ContractError, load_contracts

GRACE_SECONDS = 2.0  # after SIGTERM, before SIGKILL: the whole stop stays well under 10 s


def _masking_env(env: dict, demo_key: bool) -> None:
    if env.get("DQ_MASKING_KEY"):
        return
    if demo_key:
        print(
            "WARNING: DQ_MASKING_KEY is not set: masking uses the fixed, PUBLIC demo key "
            "(fine for the demo's sample data, never for real data).",
            file=sys.stderr,
        )
        env["DQ_ALLOW_DEV_MASKING_KEY"] = "1"
    else:
        print(
            "NOTE: DQ_MASKING_KEY is not set: masked_* assets will refuse to run until it is "
            "(or start with --demo-key for the demo's sample data).",
            file=sys.stderr,
        )


def _report_server(stack: contextlib.ExitStack, host: str, port: int):
    from dq_platform.services.report_server import ReportServer

    folder = Path(settings.warehouse_uri()) / "reports"
    try:
        return stack.enter_context(ReportServer(folder, host, port))
    except OSError:  # the usual port is taken: any free one will do (the links carry it)
        return stack.enter_context(ReportServer(folder, host, 0))


def _health_at_start(contracts) -> None:
    """platform_health is refreshed hourly: a first UI would show it "Never materialized" for up to an
    hour, so it is materialized once now (only when it never was)."""
    import dagster as dg

    from dq_platform import names
    from dq_platform.definitions import build_definitions

    with dg.DagsterInstance.get() as instance:
        if instance.get_latest_materialization_event(dg.AssetKey(names.PLATFORM_HEALTH)) is not None:
            return
        defs = build_definitions(contracts, settings.warehouse_uri())
        job = defs.resolve_job_def(names.HEALTH_JOB)
        result = job.execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={names.TRIGGER_TAG: "ui"},
            raise_on_error=False,
        )
        if not result.success:
            print("NOTE: platform_health could not be computed at start; its schedule retries hourly", file=sys.stderr)


def _die_with_parent() -> None:
    """In the child: Linux kills it when this supervisor dies, even by SIGKILL (no orphaned UI)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def stop_group(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM to the child's process group (webserver, daemon, code servers, runs), SIGKILL after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:  # the leader left: make sure none of its children linger
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            return
        except subprocess.TimeoutExpired:
            continue


def _ui(args) -> int:
    home = settings.ensure_dagster_home()
    env = dict(os.environ)
    _masking_env(env, args.demo_key)
    env.setdefault("DQ_WEBSERVER_URL", f"http://{args.host}:{args.port}")
    workspace = settings.project_dir() / "workspace.yaml"
    bin_dir = Path(sys.executable).parent
    exe = str(bin_dir / "dagster") if (bin_dir / "dagster").exists() else "dagster"
    cmd = [exe, "dev", "-h", args.host, "-p", str(args.port)]
    cmd += ["-w", str(workspace)] if workspace.exists() else ["-m", "dq_platform.definitions"]
    try:
        contracts = load_contracts(settings.contracts_dir())
    except ContractError as e:
        print(f"INVALID contract(s):\n{e}", file=sys.stderr)
        return 1
    _health_at_start(contracts)
    with contextlib.ExitStack() as stack:
        if args.demo_key:
            from dq_platform.demo.pull_sources import demo_http_servers

            replayed = demo_http_servers(contracts, stack)
            for var, url in replayed.items():
                print(f"demo: {var}={url} (a replay of recorded API answers; no network needed)", file=sys.stderr)
            env.update(replayed)
        if not settings.warehouse_uri().startswith("s3://") and args.reports_port >= 0:
            server = _report_server(stack, args.host, args.reports_port or args.port + 1)
            env["DQ_REPORTS_URL"] = server.url
            print(f"Run reports on {server.url}/<dataset>/run_report_<run>_<time>.html", flush=True)
        print(f"Dagster UI on http://{args.host}:{args.port}  (DAGSTER_HOME={home})", flush=True)
        stop = threading.Event()
        previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            # its own session: a terminal's Ctrl-C reaches this process only, which stops the group
            preexec = _die_with_parent if sys.platform.startswith("linux") else None
            proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=preexec)  # noqa: PLW1509
            while proc.poll() is None and not stop.wait(0.5):
                pass
            if proc.poll() is None:
                print("stopping the Dagster UI and daemon ...", file=sys.stderr, flush=True)
                stop_group(proc)
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
    if stop.is_set():
        # Children stopped, servers closed: exit now rather than wait on threads libraries left behind
        # (the instance's, from platform_health at start), so the whole stop stays within seconds.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return proc.returncode or 0


def register(sub) -> None:
    """Add this module's command to the `dq-platform` parser."""
    u = sub.add_parser("ui", help="start the Dagster UI and daemon on the persistent instance, reports beside it")
    u.add_argument("--host", default="127.0.0.1")
    u.add_argument("--port", type=int, default=3000)
    u.add_argument(
        "--reports-port",
        type=int,
        default=0,
        help="port of the run-report server (default: the UI's port + 1, else any free one; -1: none)",
    )
    u.add_argument(
        "--demo-key",
        action="store_true",
        help="allow the public demo masking key when DQ_MASKING_KEY is unset, and answer http sources "
        "with the demo's replay server (sample data only)",
    )
    u.set_defaults(func=_ui)
