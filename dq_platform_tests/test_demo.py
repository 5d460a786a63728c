"""The README's first command: `make demo` must keep working, for every shipped contract.

Runs the real demo (small files) in a throw-away project folder with its own persistent instance.
"""

import io
import re
from pathlib import Path

import pytest

from dq_platform.contract import load_contracts

pytestmark = pytest.mark.slow


def test_the_demo_runs_every_dataset_and_shows_gates_reviews_alerts_and_versions(tmp_path, monkeypatch):
    from dq_platform.demo.run import run_demo

    monkeypatch.setenv("DQ_PROJECT_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("DQ_MASKING_KEY", raising=False)  # the demo falls back to its public key, loudly
    out = io.StringIO()
    outcomes = run_demo(rows=200, out=out)
    text = out.getvalue()
    assert "the demo masks with the PUBLIC development key" in text
    for contract in load_contracts():
        assert f"== {contract.name}  (owner {contract.owner})" in text, contract.name
        assert any(o.dataset == contract.name and o.success and not o.held for o in outcomes), contract.name
    # a bad batch held by a gate, a doubtful one held for review, then decided
    assert "held by a gate" in text and "held for review" in text
    assert re.search(r"approved customers customers_review_batch\.csv@\w+: published", text)
    # history: a run of ordinary files, then one ten times their size is flagged, and only that one
    flagged = re.findall(r"(\S+)@\w+ +ok; history anomaly: (\S+)", text)
    assert flagged == [("customers_feed_spike.csv", "raw_customers.row_count_matches_history")], flagged
    assert "[MEDIUM] customers: anomaly against history: raw_customers.row_count_matches_history" in text
    publication = re.search(r"publication report: (\S+\.html)", text)  # the publish run's own report
    assert publication and "Publication of a held file" in Path(publication.group(1)).read_text()
    assert re.search(r"rejected sales_transactions sales_transactions_review_batch\.csv@\w+: whole file moved", text)
    assert "[MEDIUM] customers: review required for customers_review_batch.csv@" in text
    assert "[RESOLVED] customers: review decided for customers_review_batch.csv@" in text
    assert "report: " in text and ".html" in text
    assert "rollback to version" in text and "restored version" in text
    assert (tmp_path / ".dagster_home").is_dir() and (tmp_path / "warehouse").is_dir()

    # `dq-platform metrics serve` on what the demo left: every metric docs/metrics.md lists has a sample
    import dagster as dg
    from prometheus_client import generate_latest

    from dq_platform.services.metrics.catalog import METRICS
    from dq_platform.services.metrics.exporter import build_registry

    with dg.DagsterInstance.from_config(str(tmp_path / ".dagster_home")) as instance:
        registry, collector = build_registry(instance, load_contracts())
        collector.catch_up()
        metrics = generate_latest(registry).decode()
    for m in METRICS:
        name = f"{m.name}_count" if m.kind == "histogram" else m.name
        assert re.search(rf"^{name}[{{ ]", metrics, re.M), m.name
    assert re.search(
        r'^dq_table_rollbacks_total\{dataset="customers",layer="masked",table="masked_customers"\} 1\.0$', metrics, re.M
    )
