"""Finding 6 of issue 17: one broken contract disables only its own dataset.

A folder holds two good contracts and two broken ones (a typo'd field; a join to a model nobody
declares). The code location still loads with every good dataset's jobs and sensors, the broken
ones appear as failing placeholders whose description and check carry `file:line`, `contracts
validate` lists both kinds, and a good dataset's file is ingested end to end.
"""

from __future__ import annotations

import subprocess
import sys

import dagster as dg
import pytest

from dq_platform.cli import main
from dq_platform.contract import CONTRACTS_DIR, ContractError, load_contract_folder, load_contracts
from dq_platform.definitions import build_definitions
from dq_platform.demo.sample_data import write_files


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "contracts"
    d.mkdir()
    for name in ("customers", "sales_transactions"):
        (d / f"{name}.yaml").write_text((CONTRACTS_DIR / f"{name}.yaml").read_text())
    text = (CONTRACTS_DIR / "events_logs.yaml").read_text()
    (d / "events_logs.yaml").write_text(text.replace("\nowner:", "\nownr:", 1))  # a typo: unknown field
    # valid alone, broken against the others: an aggregation joining a model no contract declares
    orders = (CONTRACTS_DIR / "erp_orders.yaml").read_text()
    (d / "erp_orders.yaml").write_text(orders)
    return d


def test_folder_loader_sets_aside_only_the_broken_contracts(folder):
    loaded = load_contract_folder(folder)
    assert sorted(c.name for c in loaded.contracts) == ["customers", "sales_transactions"]
    assert sorted(loaded.broken) == ["erp_orders", "events_logs"]
    typo = loaded.broken["events_logs"]
    assert typo.startswith(f"{folder / 'events_logs.yaml'}:") and "unknown field" in typo
    assert str(folder / "erp_orders.yaml") in loaded.broken["erp_orders"]
    assert "unknown model" in loaded.broken["erp_orders"]
    with pytest.raises(ContractError):  # the strict loader still refuses the folder as a whole
        load_contracts(folder)


def test_code_location_loads_good_datasets_and_shows_the_broken_ones(folder, monkeypatch, tmp_path):
    monkeypatch.setenv("DQ_CONTRACTS_DIR", str(folder))
    defs = build_definitions(warehouse_root=str(tmp_path / "wh"))
    dg.Definitions.validate_loadable(defs)
    for job in ("customers_pipeline", "sales_transactions_pipeline"):
        assert defs.resolve_job_def(job) is not None
    assert defs.resolve_sensor_def("customers_landing_sensor") is not None
    graph = defs.resolve_asset_graph()
    placeholder = graph.get(dg.AssetKey("events_logs_contract"))
    assert "BROKEN CONTRACT" in placeholder.description and "events_logs.yaml:" in placeholder.description
    assert dg.AssetKey("erp_orders_contract") in graph.get_all_asset_keys()
    assert not any(k.path[-1].startswith("raw_events_logs") for k in graph.get_all_asset_keys())

    # materializing the placeholder fails with the file:line message, and records its failed check
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [a for a in defs.assets if dg.AssetKey("events_logs_contract") in getattr(a, "keys", ())],
            instance=instance,
            raise_on_error=False,
        )
        assert not result.success
        evaluations = result.get_asset_check_evaluations()
        assert [(e.check_name, e.passed) for e in evaluations] == [("contract_loads", False)]
        assert "events_logs.yaml:" in evaluations[0].description
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert "unknown field" in str(failure.event_specific_data.error.cause or failure.event_specific_data.error)

    # the module Dagster's UI loads imports cleanly with the broken folder
    done = subprocess.run(
        [sys.executable, "-c", "import dq_platform.definitions as d; print(len(d.defs.resolve_all_job_defs()))"],
        env={**__import__("os").environ, "DQ_CONTRACTS_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_validate_lists_both_and_ingest_runs_a_good_dataset(folder, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DQ_CONTRACTS_DIR", str(folder))
    assert main(["contracts", "validate"]) == 1
    out, err = capsys.readouterr()
    assert "ok  customers" in out and "ok  sales_transactions" in out
    assert "INVALID events_logs" in err and f"{folder / 'events_logs.yaml'}:" in err
    assert "INVALID erp_orders" in err

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DQ_WAREHOUSE_URI", str(tmp_path / "warehouse"))
    monkeypatch.setenv("DQ_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    customers = load_contract_folder(folder).contracts[0]
    files = write_files(customers, tmp_path / "landing", files=1, rows_per_file=20, seed=5)
    assert main(["ingest", str(files[0])]) == 0
    out, err = capsys.readouterr()
    assert "SUCCESS" in out and "Traceback" not in out + err
    assert "contract 'events_logs' does not load" in err
