"""Reading contracts: YAML text in, a `Contract` out, or a `ContractError` naming file:line: field: reason.

`load_contracts` reads a directory and then checks the contracts against each other; any error
fails the whole folder (what `contracts validate` and tooling want). `load_contract_folder` keeps
going: a broken contract is set aside with its error, so one bad file disables only its own
dataset while every other one loads (what the code location and `ingest` want).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    folder = load_contract_folder(directory)
    if folder.broken:
        raise ContractError("\n".join(folder.broken.values()))
    return folder.contracts


@dataclass
class ContractFolder:
    """The contracts of a folder that load, and the broken ones: dataset (file stem) -> error."""

    contracts: list[Contract] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)  # dataset -> file, good and broken alike
    broken: dict[str, str] = field(default_factory=dict)


def load_contract_folder(directory: str | Path | None = None) -> ContractFolder:
    """Every *.yaml under the directory, each on its own: an error disables that contract only.

    Cross-contract checks (cross_checks.py) run on the ones that loaded; a contract they flag is
    set aside too, and the check repeats, since a contract that joins a set-aside model breaks in turn.
    A missing folder is still an error of its own (nothing could load).
    """
    directory = Path(directory) if directory else CONTRACTS_DIR
    folder = ContractFolder()
    if directory.is_file():
        files = [directory]
    elif directory.is_dir():
        files = sorted(directory.glob("*.y*ml"))
    else:
        raise ContractError(f"{directory}: no such contracts directory")
    loaded: list[tuple[Contract, Path]] = []
    for p in files:
        folder.paths[p.stem] = p
        try:
            loaded.append((load_contract(p), p))
        except ContractError as e:
            folder.broken[p.stem] = str(e)
    # a single file is validated without its neighbours: its joins name models declared elsewhere
    while loaded and not directory.is_file():
        errors = cross_contract_errors(loaded)
        if not errors:
            break
        for _, p in loaded:
            mine = [e for e in errors if e.startswith(f"{p}:")]
            if mine:
                folder.broken[p.stem] = "\n".join(mine)
        kept = [(c, p) for c, p in loaded if p.stem not in folder.broken]
        if len(kept) == len(loaded):  # an error naming no loaded file: never loop on it
            folder.broken["<contracts>"] = "\n".join(errors)
            kept = []
        loaded = kept
    folder.contracts = [c for c, _ in loaded]
    return folder
