"""`dq-platform contracts validate` and `dq-platform settings`: what is declared and what is configured."""

from __future__ import annotations

import sys
from pathlib import Path

from dq_platform import settings
from dq_platform.contract import ContractError, load_contract_folder


def _contracts_validate(args) -> int:
    """Each contract on its own line: ok, or INVALID with file:line: field: reason (exit 1).

    The others are still listed: a broken contract disables only its own dataset."""
    target = Path(args.path) if args.path else settings.contracts_dir()
    try:
        folder = load_contract_folder(target)
    except ContractError as e:
        print(f"INVALID contract(s):\n{e}", file=sys.stderr)
        return 1
    for name, error in sorted(folder.broken.items()):
        print(f"INVALID {name}: disabled (every other dataset still loads):\n{error}", file=sys.stderr)
    for c in folder.contracts:
        pii = ", ".join(f"{x.name}:{x.pii.masking.value}" for x in c.pii_columns) or "-"
        modeling = (f"; {c.model.kind} {c.model.name}" if c.model else "") + (
            f"; {len(c.semantic.metrics)} semantic metrics" if c.semantic else ""
        )
        print(
            f"ok  {c.name:<24} {len(c.columns)} columns, {len(c.rules)} expression rules, "
            f"{len(c.aggregations)} aggregations"
            + (f", {len(c.anomalies)} anomaly rules" if c.anomalies else "")
            + f"; PII {pii}{modeling}"
        )
    return 1 if folder.broken else 0


def _settings(args) -> int:
    """Every environment variable the platform reads: set or not, its default; a secret's value never."""
    rows = settings.describe()
    if args.set_only:
        rows = [r for r in rows if r["set"]]
    group = None
    for r in rows:
        if r["group"] != group:
            group = r["group"]
            print(f"\n[{group}]")
        if r["set"]:
            state = "set (secret, not shown)" if r["secret"] else f"= {r['value']}"
        else:
            state = f"unset (default {r['default']})" if r["default"] is not None else "unset"
        print(f"  {r['name']:34s} {state}\n      {r['help']}")
    return 0


def register(sub) -> None:
    """Add this module's commands to the `dq-platform` parser."""
    contracts = sub.add_parser("contracts", help="work with data contracts")
    csub = contracts.add_subparsers(dest="action", required=True)
    v = csub.add_parser("validate", help="check contracts without running anything")
    v.add_argument("path", nargs="?", help="a contract file or folder (default: the shipped contracts)")
    v.set_defaults(func=_contracts_validate)

    st = sub.add_parser("settings", help="every environment variable the platform reads: set or not, defaults")
    st.add_argument("--set-only", action="store_true", help="only the variables that are set")
    st.set_defaults(func=_settings)
