"""`unique: dataset` end to end: a transaction another published file holds is quarantined, once.

sales_transactions declares `transaction_id: {unique: dataset}`. Real runs on real Delta tables:
the published values are read back from cleaned for the partitions masked holds.
"""

import pandas as pd
import pytest

from dq_platform.demo.sample_data import generate
from dq_platform.engine import rules

pytestmark = pytest.mark.slow
DS = "sales_transactions"


def sales(project, rows: int, seed: int, id_offset: int, bad_fraction: float = 0.0) -> pd.DataFrame:
    return generate(project.contracts[DS], rows=rows, seed=seed, bad_fraction=bad_fraction, id_offset=id_offset).frame


def quarantined(project, partition) -> pd.DataFrame:
    return project.wh().read(f"quarantine_{DS}", partition=partition)


def test_a_transaction_delivered_again_in_another_file_is_quarantined(project, instance):
    first = sales(project, 60, seed=1, id_offset=0)
    a = project.ingest(instance, DS, project.write_csv("sales/a.csv", first))
    assert a.success and a.rows == {"in": 60, "cleaned": 60, "quarantined": 0, "masked": 60}, a.error

    second = sales(project, 60, seed=2, id_offset=1000)
    second.loc[:3, "transaction_id"] = first["transaction_id"].iloc[10:14].to_numpy()  # 4 already published
    b = project.ingest(instance, DS, project.write_csv("sales/b.csv", second))
    assert b.success and b.rows == {"in": 60, "cleaned": 56, "quarantined": 4, "masked": 56}, b.error
    q = quarantined(project, b.partition)
    assert set(q[rules.FAILED_RULES]) == {"transaction_id:unique_in_dataset"}
    assert sorted(q["transaction_id"]) == sorted(first["transaction_id"].iloc[10:14])
    assert set(q[rules.REASON]) == {f"transaction_id: already published by another file of {DS}"}
    masked = project.wh().read(f"masked_{DS}")
    assert len(masked) == 116 and masked["transaction_id"].is_unique  # gold counts each transaction once

    # a re-run of a file is not judged against itself
    again = project.ingest(instance, DS, project.landing / "sales" / "a.csv")
    assert again.partition == a.partition and again.rows["quarantined"] == 0 and again.rows["masked"] == 60


def test_only_published_files_count(project, instance):
    """A file held back by its gates published nothing: its values may come again in a later file."""
    bad = sales(project, 80, seed=3, id_offset=0, bad_fraction=0.45)
    held = project.ingest(instance, DS, project.write_csv("sales/bad.csv", bad))
    assert not held.success and held.failed_gates and project.wh().row_counts(f"masked_{DS}") == {}
    fixed = sales(project, 80, seed=3, id_offset=0)  # the supplier's corrected file: the same transactions
    kept = set(project.wh().read(f"cleaned_{DS}", partition=held.partition)["transaction_id"])
    assert len(kept & set(fixed["transaction_id"])) >= 30  # rows that passed in the held file come again
    ok = project.ingest(instance, DS, project.write_csv("sales/fixed.csv", fixed))
    assert ok.success and ok.rows["quarantined"] == 0 and ok.rows["masked"] == 80, ok.error
