"""Reading contracts: YAML text in, a `Contract` out, or a `ContractError` naming file:line: field: reason.

`load_contracts` reads a directory and then checks the contracts against each other.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from dq_platform.contract.base import ContractError
from dq_platform.contract.cross_checks import cross_contract_errors
from dq_platform.contract.dataset import Contract
from dq_platform.contract.yaml_text import YAML_LOADER, describe, line_index
from dq_platform.settings import CONTRACTS_DIR


def parse_contract(text: str, path: str | Path = "<string>") -> Contract:
    path = str(path)
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ContractError(f"{path}{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ContractError(f"{path}:1: a contract must be a YAML mapping, got {type(data).__name__}")
    try:
        return Contract.model_validate(data)
    except ValidationError as e:
        lines = line_index(text)
        msgs = []
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            # pydantic appends the union member / enum tag; trim to the deepest real path
            while loc and loc not in lines and len(loc) > 1:
                loc = loc[:-1]
            line = lines.get(loc) or lines.get(loc[:-1], 1) if loc else 1
            reason = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                reason = "unknown field (typo?)"
            elif err["type"] == "missing":
                reason = "required field is missing"
            msgs.append(f"{path}:{line}: {describe(err['loc'], data)}: {reason}")
        raise ContractError("\n".join(msgs)) from None


def load_contract(path: str | Path) -> Contract:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ContractError(f"{path}: cannot read contract: {e.strerror}") from None
    contract = parse_contract(text, path)
    if contract.name != path.stem:
        raise ContractError(f"{path}:1: name: '{contract.name}' must match the file name '{path.stem}'")
    return contract


def load_contracts(directory: str | Path | None = None) -> list[Contract]:
    """Every *.yaml under the directory; all errors are collected into one ContractError."""
    directory = Path(directory) if directory else CONTRACTS_DIR
    if directory.is_file():
        return [load_contract(directory)]
    if not directory.is_dir():
        raise ContractError(f"{directory}: no such contracts directory")
    contracts, errors, paths = [], [], []
    for p in sorted(directory.glob("*.y*ml")):
        try:
            contracts.append(load_contract(p))
            paths.append(p)
        except ContractError as e:
            errors.append(str(e))
    if not errors:  # models, references and joins between contracts (cross_checks.py)
        errors = cross_contract_errors(list(zip(contracts, paths)))
    if errors:
        raise ContractError("\n".join(errors))
    return contracts
