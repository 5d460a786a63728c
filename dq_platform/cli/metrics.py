"""`dq-platform metrics serve`: the Prometheus exporter over the instance's run and event storage."""

from __future__ import annotations

import sys

from dq_platform import settings


def _serve(args) -> int:
    import signal
    import threading

    import dagster as dg

    from dq_platform.contract import load_contracts
    from dq_platform.services.metrics.exporter import serve

    settings.ensure_dagster_home()
    contracts = load_contracts(settings.contracts_dir())
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with dg.DagsterInstance.get() as instance:
        try:
            server, _ = serve(instance, contracts, port=args.port, host=args.host)
        except OSError as e:
            print(f"metrics: cannot listen on {args.host}:{args.port}: {e.strerror or e}", file=sys.stderr)
            return 1
        print(f"serving http://{args.host}:{args.port}/metrics (Ctrl-C to stop)", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        server.shutdown()
    return 0


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    m = sub.add_parser("metrics", help="Prometheus metrics from the run and event storage")
    msub = m.add_subparsers(dest="action", required=True)
    s = msub.add_parser("serve", help="answer /metrics for Prometheus (reads the event log incrementally)")
    s.add_argument("--port", type=int, default=9109, help="port (default 9109)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 in a container)")
    s.set_defaults(func=_serve)
