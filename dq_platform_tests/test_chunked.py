"""Chunked execution gives exactly what one piece gives: rows, quarantine rows and reasons, masked
values, gold, every check's outcome and counts, for tiny and uneven chunk sizes, with quoted
multi-line records straddling the cut points (issue #18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dq_platform import names
from dq_platform.contract import load_contracts
from dq_platform.demo.sample_data import generate
from dq_platform.engine import rules
from dq_platform.engine.statistics import OUTLIERS
from dq_platform.io import source_chunks
from dq_platform.settings import CONTRACTS_DIR
from dq_platform_tests.conftest import Project

pytestmark = pytest.mark.slow

LAYERS = ("raw", "cleaned", "quarantine", "masked")


def dirty_customers(rows: int = 400) -> pd.DataFrame:
    """Sample customers with the demo's faults, plus what crosses chunk boundaries: duplicates of
    earlier ids far apart, outliers, and quoted values holding line breaks."""
    contract = next(c for c in load_contracts(CONTRACTS_DIR) if c.name == "customers")
    frame = generate(contract, rows, seed=7, bad_fraction=0.08).frame.astype(object)
    frame.loc[rows - 5, "customer_id"] = frame.loc[3, "customer_id"]  # a duplicate in another chunk
    frame.loc[rows - 60, "customer_id"] = frame.loc[150, "customer_id"]
    frame.loc[[40, 210, 330], "address"] = [
        "12 Long Rd\nFlat 3\nSpringfield, IL 62704",
        'Unit 9,\n\n"The Old Mill"\nLakeside, CA 90210',
        "x" * 700 + "\n" + "y" * 700,  # longer than the tiniest chunk
    ]
    frame.loc[77, "income"] = "98000000"  # an outlier the whole file's thresholds flag
    return frame


def tables(project: Project, partition: str) -> dict[str, pd.DataFrame]:
    wh = project.wh()
    out = {}
    for layer in LAYERS:
        df = wh.read(f"{layer}_customers", partition=partition)
        df = df.drop(columns=[rules.RUN_ID], errors="ignore")
        out[layer] = df[sorted(df.columns)].sort_values(rules.SOURCE_LINE, kind="stable").reset_index(drop=True)
    contract = project.contracts["customers"]
    gold = [names.gold("customers", a.name) for a in contract.aggregations]
    gold = [t for t in gold if wh.table(t) is not None]
    for t in gold:
        df = wh.read(t)
        out[t] = df[sorted(df.columns)].sort_values(sorted(df.columns)).reset_index(drop=True)
    return out


def check_outcomes(instance, run_id: str) -> dict:
    import dagster as dg

    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    out = {}
    for r in records:
        ev = r.event_log_entry.dagster_event.event_specific_data
        meta = {
            k: getattr(v, "value", v)
            for k, v in ev.metadata.items()
            if not k.startswith(("seconds", "duration", "window_", "arrival"))  # clocks differ between two runs
        }
        meta = {k: v.replace(run_id, "<run>") if isinstance(v, str) else v for k, v in meta.items()}
        text = (ev.description or "").replace(run_id, "<run>")
        if "freshness" in ev.check_name:  # says how many seconds ago: only its verdict compares
            text, meta = "", {}
        out[f"{ev.asset_key.to_user_string()}.{ev.check_name}"] = (ev.passed, text, meta)
    return out


def profile_metadata(instance, asset: str) -> dict:
    """The profile keys of the asset's latest materialization (not its clock: seconds/profile)."""
    import dagster as dg

    meta = instance.get_latest_materialization_event(dg.AssetKey(asset)).asset_materialization.metadata
    return {k: getattr(v, "value", v) for k, v in meta.items() if k.startswith("profile")}


def ingest(tmp_path, name: str, frame: pd.DataFrame, monkeypatch, chunk_mb: str | None, instance):
    if chunk_mb is None:
        monkeypatch.delenv("DQ_CHUNK_MB", raising=False)
    else:
        monkeypatch.setenv("DQ_CHUNK_MB", chunk_mb)
    project = Project(tmp_path / name, CONTRACTS_DIR)
    path = project.landing / "customers" / "customers_2024.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return project, instance, project.ingest(instance, "customers", path)


def test_cut_points_fall_between_records_even_inside_quoted_line_breaks(tmp_path):
    contract = next(c for c in load_contracts(CONTRACTS_DIR) if c.name == "customers")
    path = tmp_path / "c.csv"
    dirty_customers().to_csv(path, index=False, quoting=1)
    data = path.read_bytes()
    chunks = source_chunks.plan(str(path), contract, 900)
    assert len(chunks) > 20
    assert [c.start for c in chunks[1:]] == [c.end for c in chunks[:-1]]
    for c in chunks:
        assert data[: c.start].count(b'"') % 2 == 0  # never inside a quoted value
        assert c.first_line == data[: c.start].count(b"\n") + 1
    whole = pd.concat(
        [source_chunks.read_chunk(c, contract, "c.csv", "x") for c in chunks], ignore_index=True
    ).reset_index(drop=True)
    from dq_platform.io.readers import read_source

    one = read_source(str(path), contract, display_name="c.csv", checksum="x")
    pd.testing.assert_frame_equal(whole[one.columns], one, check_dtype=False)


@pytest.mark.parametrize("chunk_mb", ["0.0009", "0.004", "0.03"])
def test_chunked_run_equals_one_piece(tmp_path, monkeypatch, chunk_mb):
    import dagster as dg

    frame = dirty_customers()
    with dg.instance_for_test() as base_instance, dg.instance_for_test() as instance:
        base, _, one = ingest(tmp_path, "one", frame, monkeypatch, None, base_instance)
        project, _, chunked = ingest(tmp_path, "chunked", frame, monkeypatch, chunk_mb, instance)
        _compare(base, base_instance, one, project, instance, chunked)


def _compare(base, base_instance, one, project, instance, chunked):
    assert one.success == chunked.success
    assert one.rows == chunked.rows
    assert one.partition == chunked.partition
    a, b = tables(base, one.partition), tables(project, chunked.partition)
    assert a.keys() == b.keys()
    for layer in a:
        pd.testing.assert_frame_equal(a[layer], b[layer], obj=layer)
    # the cut really happened: several staged files per layer
    wh = project.wh()
    from dq_platform.io.staging import chunk_files

    assert len(chunk_files(wh.table("raw_customers"), chunked.partition)) > 1
    assert len(chunk_files(wh.table("cleaned_customers"), chunked.partition)) > 1
    checks_a, checks_b = check_outcomes(base_instance, one.run_id), check_outcomes(instance, chunked.run_id)
    assert checks_a.keys() == checks_b.keys()
    for key in checks_a:
        assert checks_a[key] == checks_b[key], key
    # the profiles merged from the chunks' summaries are the one piece's, key by key
    for asset in ("raw_customers", "cleaned_customers"):
        pa_, pb = (profile_metadata(i, asset) for i in (base_instance, instance))
        assert pa_.keys() == pb.keys() and pa_, asset
        for key in pa_:
            assert pa_[key] == pb[key], (asset, key)
    # rows quarantined for a duplicate in another chunk
    q = b["quarantine"]
    assert q[rules.FAILED_RULES].str.contains("customer_id:unique").sum() >= 2
    assert b["cleaned"][OUTLIERS].notna().any()
    assert np.array_equal(a["cleaned"][rules.SOURCE_LINE], b["cleaned"][rules.SOURCE_LINE])
