"""`dq-platform`: the command line. Every command works on the same persistent instance.

One module per group of commands; each has `register(sub)` adding its subcommands here.
"""

from __future__ import annotations

import argparse
import sys

from dq_platform import settings
from dq_platform.cli import alerts, audit, config, metrics, pipeline, review, services, streams, ui

COMMAND_GROUPS = (config, pipeline, ui, audit, review, alerts, metrics, services, streams)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dq-platform", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(sub)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except settings.SettingsError as e:
        print(f"dq-platform: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
