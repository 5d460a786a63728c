"""Malformed contracts fail at load time with file, line, field and reason."""

from __future__ import annotations

import re
from pathlib import Path

import dagster as dg
import pytest

from dq_platform.cli import main
from dq_platform.contract import CONTRACTS_DIR, ContractError, load_contract, load_contracts, parse_contract

GOOD = """\
name: orders
description: Orders.
owner: team:shop
source:
  pattern: "orders/*.csv"
columns:
  - name: order_id
    type: integer
    required: true
  - name: total
    type: float
    min: 0
aggregations:
  - name: totals
    metrics:
      - {name: revenue, agg: sum, column: total}
"""


def error_of(text: str, path="orders.yaml") -> str:
    with pytest.raises(ContractError) as e:
        parse_contract(text, path)
    return str(e.value)


def test_shipped_contracts_load():
    names = {c.name for c in load_contracts()}
    assert {"customers", "sales_transactions"} <= names


def test_good_contract_parses():
    c = parse_contract(GOOD)
    assert c.column("total").min == 0 and c.failure_rate.error == 0.2


@pytest.mark.parametrize(
    "change,expected",
    [
        (("type: float", "type: money"), "orders.yaml:11: columns[1] (total).type: Input should be"),
        (("    min: 0", "    minimum: 0"), "orders.yaml:12: columns[1] (total).minimum: unknown field (typo?)"),
        (
            ("owner: team:shop", "owner: nobody"),
            "orders.yaml:3: owner: owner must be an email address or 'team:<name>'",
        ),
        (
            ("column: total}", "column: price}"),
            "orders.yaml:1: (top level): aggregation 'totals' metric 'revenue' uses unknown column 'price'",
        ),
        (("description: Orders.\n", ""), "orders.yaml:1: description: required field is missing"),
        (
            ("    min: 0", "    min: 0\n    pattern: '[unclosed'"),
            "columns[1] (total).pattern: pattern does not compile",
        ),
        (("    min: 0", "    min_length: 3"), "columns[1] (total): min_length/max_length apply to string columns only"),
    ],
)
def test_errors_name_file_line_field_and_reason(change, expected):
    msg = error_of(GOOD.replace(*change))
    assert expected in msg
    assert "Traceback" not in msg


def test_invalid_yaml_names_the_line():
    assert error_of("name: x\ncolumns: [a, b\nowner: y\n").startswith("orders.yaml:")


def test_file_name_must_match_contract_name(tmp_path):
    p = tmp_path / "other.yaml"
    p.write_text(GOOD)
    with pytest.raises(ContractError, match="other.yaml:1: name: 'orders' must match the file name 'other'"):
        load_contract(p)


def test_all_errors_of_a_folder_are_reported_together(tmp_path):
    (tmp_path / "orders.yaml").write_text(GOOD.replace("type: float", "type: money"))
    (tmp_path / "b.yaml").write_text("name: b\n")
    with pytest.raises(ContractError) as e:
        load_contracts(tmp_path)
    assert "orders.yaml:11" in str(e.value) and "b.yaml" in str(e.value)


def test_cli_validate(tmp_path, capsys):
    assert main(["contracts", "validate"]) == 0
    assert "ok  customers" in capsys.readouterr().out
    bad = tmp_path / "orders.yaml"
    bad.write_text(GOOD.replace("type: float", "type: money"))
    assert main(["contracts", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:11: columns[1] (total).type" in err


def test_definitions_show_the_contract_message_not_a_dagster_trace(tmp_path, monkeypatch):
    """A broken contract disables its dataset only (issue 17): its placeholder carries the message."""
    (tmp_path / "orders.yaml").write_text(GOOD.replace("agg: sum", "agg: average"))
    monkeypatch.setenv("DQ_CONTRACTS_DIR", str(tmp_path))
    from dq_platform.definitions import build_definitions

    graph = build_definitions().resolve_asset_graph()
    description = graph.get(dg.AssetKey("orders_contract")).description
    assert re.search(r"orders.yaml:16: aggregations\[0\] \(totals\).metrics\[0\] \(revenue\).agg", description)


def test_contracts_dir_is_the_shipped_one():
    assert (Path(CONTRACTS_DIR) / "customers.yaml").exists()


@pytest.mark.parametrize("bands", ["[]", "[30, 20]", "[0, 10]"])
def test_age_bands_must_be_ascending_and_non_empty(bands):
    text = GOOD.replace(
        "  - name: total",
        f"  - name: dob\n    type: date\n    pii: {{category: date_of_birth, masking: age_band, age_bands: {bands}}}\n  - name: total",
    )
    assert "columns[1] (dob).pii.age_bands" in error_of(text)


# -- alerts and freshness sections (issue #4) ----------------------------------------------


def test_alerts_and_freshness_sections_parse():
    c = parse_contract(
        GOOD
        + """\
freshness: {max_lag: 26h, deadline_cron: "0 9 * * *"}
alerts:
  owner: oncall@example.com
  channels: [slack, pagerduty]
  severities: {pagerduty: HIGH}
  email_to: [data@example.com]
  reminder_after: 2h
"""
    )
    assert c.freshness.max_lag == "26h" and c.alerts.severities["pagerduty"].value == "HIGH"
    assert parse_contract(GOOD).alerts.channels is None  # defaults when the section is absent


def test_unique_scope_file_or_dataset():
    one = lambda v: GOOD.replace("    required: true\n", f"    required: true\n    unique: {v}\n", 1)  # noqa: E731
    assert parse_contract(one("dataset")).columns[0].unique == "dataset"
    assert parse_contract(one("true")).columns[0].unique is True
    assert error_of(one("everywhere")) == (
        "orders.yaml:10: columns[0] (order_id).unique: unique must be true (within "
        "each file), dataset (across the dataset's published files too) or false, "
        "not 'everywhere'"
    )


@pytest.mark.parametrize(
    "section, line, message",
    [
        ("freshness: {max_lag: soon}\n", 17, "freshness.max_lag: 'soon' is not a duration like '90m', '26h' or '2d'"),
        (
            "freshness: {max_lag: 1h, deadline_cron: 'every day'}\n",
            17,
            "freshness.deadline_cron: 'every day' is not a valid cron string",
        ),
        (
            "alerts:\n  channels: [slack, teams]\n",
            18,
            "alerts.channels[1]: Input should be 'console', 'slack', 'email', 'pagerduty' or 'webhook'",
        ),
        (
            "alerts:\n  severities: {email: URGENT}\n",
            18,
            "alerts.severities.email: Input should be 'LOW', 'MEDIUM', 'HIGH' or 'CRITICAL'",
        ),
        ("alerts:\n  email_to: [not-an-address]\n", 18, "alerts.email_to: not an email address: not-an-address"),
        ("alerts:\n  reminder_after: 0h\n", 18, "alerts.reminder_after: a duration must be positive"),
        ("alerts:\n  pager: yes\n", 18, "alerts.pager: unknown field (typo?)"),
    ],
)
def test_bad_alerts_and_freshness_name_file_line_and_reason(section, line, message):
    assert error_of(GOOD + section) == f"orders.yaml:{line}: {message}"


def test_contracts_of_one_domain_share_an_asset_group_but_keep_their_own_jobs(tmp_path):
    """`group:` puts several contracts in one UI group; each job still runs its own dataset only."""
    from dq_platform.definitions import build_definitions

    other = GOOD.replace("name: orders", "name: returns").replace('"orders/*.csv"', '"returns/*.csv"')
    contracts = [parse_contract(GOOD + "group: shop\n"), parse_contract(other + "group: shop\n")]
    defs = build_definitions(contracts, str(tmp_path / "warehouse"), str(tmp_path / "landing"))
    graph = defs.resolve_asset_graph()
    assert {
        graph.get(k).group_name for k in graph.get_all_asset_keys() if "orders" in k.path[-1] or "returns" in k.path[-1]
    } == {"shop"}
    job = defs.resolve_job_def("orders_pipeline")
    assert {k.path[-1] for k in job.asset_layer.selected_asset_keys} == {
        "raw_orders",
        "cleaned_orders",
        "quarantine_orders",
        "masked_orders",
        "orders_totals",
    }
    assert "group: 'bad group'" not in error_of(GOOD + "group: bad group\n")
    assert "group" in error_of(GOOD + "group: Bad-Group\n")


# -- history section (issue #7: anomaly detection from history) ------------------------------


def test_history_section_parses_and_defaults_apply_when_absent():
    c = parse_contract(
        GOOD
        + """\
history:
  window: 56d
  min_history: 10
  min_weekday_history: 4
  threshold: 4
  seasonality: weekly
  severity: error
  metrics: [row_count, arrival]
"""
    )
    h = c.history
    assert (h.window, h.min_history, h.min_weekday_history, h.threshold, h.seasonality, h.severity) == (
        "56d",
        10,
        4,
        4.0,
        "weekly",
        "error",
    )
    assert h.metrics == ["row_count", "arrival"] and h.enabled
    d = parse_contract(GOOD).history
    assert (d.enabled, d.window, d.min_history, d.min_weekday_history, d.threshold, d.seasonality, d.severity) == (
        True,
        "28d",
        7,
        3,
        3.5,
        "none",
        "warn",
    )
    assert d.metrics == ["row_count", "arrival", "failure_rate", "column_metrics"]
    assert parse_contract(GOOD + "history: {enabled: false}\n").history.enabled is False


@pytest.mark.parametrize(
    "section, line, message",
    [
        ("history: {window: a month}\n", 17, "history.window: 'a month' is not a duration like '90m', '26h' or '2d'"),
        ("history:\n  seasonality: monthly\n", 18, "history.seasonality: Input should be 'none' or 'weekly'"),
        (
            "history:\n  metrics: [row_count, volume]\n",
            18,
            "history.metrics[1]: Input should be 'row_count', 'arrival', 'failure_rate' or 'column_metrics'",
        ),
        ("history:\n  metrics: [arrival, arrival]\n", 18, "history.metrics: metrics must not repeat"),
        ("history:\n  min_history: 1\n", 18, "history.min_history: Input should be greater than or equal to 2"),
        ("history:\n  threshold: 0\n", 18, "history.threshold: Input should be greater than 0"),
        ("history:\n  severity: critical\n", 18, "history.severity: Input should be 'warn' or 'error'"),
        (
            "history:\n  seasonality: weekly\n",
            17,
            "history: weekly seasonality compares each file with past files of its weekday only; a window of 28d holds 4 "
            "of them, too few to judge more than gross changes: use a window of 56d or more (e.g. 84d)",
        ),
        ("history:\n  windw: 7d\n", 18, "history.windw: unknown field (typo?)"),
    ],
)
def test_bad_history_section_names_file_line_and_reason(section, line, message):
    assert error_of(GOOD + section) == f"orders.yaml:{line}: {message}"


# -- statistics section (defs/review.py) -----------------------------------------------------------

STATS = """\
    statistics:
      outliers:
        - {method: iqr, k: 1.5, max_rate: 0.03}
        - {method: zscore, threshold: 3.0, max_rate: 0.01}
        - {method: mad, max_rate: 0.03}
        - {method: kmeans, k: 3, min_cluster_share: 0.01, max_rate: 0.01, log: true}
      drift: {psi: 0.2, ks_statistic: 0.1, bins: 10}
      severity: error
"""


def with_stats(stats: str = STATS, column: str = "    min: 0\n") -> str:
    return GOOD.replace(column, column + stats, 1)


def test_statistics_section_parses_with_method_defaults():
    s = parse_contract(with_stats()).column("total").statistics
    assert [o.method.value for o in s.outliers] == ["iqr", "zscore", "mad", "kmeans"]
    assert s.outliers[2].threshold == 3.5  # mad's default
    assert s.outliers[3].k == 3 and s.outliers[3].log is True
    assert s.drift.psi == 0.2 and s.min_rows == 100 and s.severity == "error"
    assert parse_contract(GOOD).column("total").statistics is None  # optional


@pytest.mark.parametrize(
    "stats, message",
    [
        (
            STATS.replace("method: iqr", "method: dbscan"),
            "orders.yaml:15: columns[1] (total).statistics.outliers[0].method: Input should be 'iqr', 'zscore', 'mad' or 'kmeans'",
        ),
        (
            STATS.replace("threshold: 3.0", "threshold: -3"),
            "orders.yaml:16: columns[1] (total).statistics.outliers[1].threshold: Input should be greater than 0",
        ),
        (
            STATS.replace("max_rate: 0.03}", "max_rate: 1.5}", 1),
            "orders.yaml:15: columns[1] (total).statistics.outliers[0].max_rate: Input should be less than or equal to 1",
        ),
        (
            STATS.replace("{method: iqr, k: 1.5, max_rate: 0.03}", "{method: iqr, k: 1.5}"),
            "orders.yaml:15: columns[1] (total).statistics.outliers[0].max_rate: required field is missing",
        ),
        (
            STATS.replace("{method: iqr, k: 1.5,", "{method: iqr, threshold: 2,"),
            "orders.yaml:15: columns[1] (total).statistics.outliers[0]: 'threshold' does not apply to method 'iqr' (it takes k)",
        ),
        (
            STATS.replace("k: 3,", "k: 2.5,"),
            "orders.yaml:18: columns[1] (total).statistics.outliers[3]: kmeans needs an integer k between 2 and 20 (clusters)",
        ),
        (
            STATS.replace("{method: mad,", "{method: iqr,"),
            "orders.yaml:13: columns[1] (total).statistics: outlier method(s) listed twice: iqr",
        ),
        (
            STATS.replace("bins: 10", "bins: 1"),
            "orders.yaml:19: columns[1] (total).statistics.drift.bins: Input should be greater than or equal to 2",
        ),
        (
            STATS.replace("psi: 0.2", "psi: -0.2"),
            "orders.yaml:19: columns[1] (total).statistics.drift.psi: Input should be greater than 0",
        ),
        (
            STATS.replace("severity: error", "severity: fatal"),
            "orders.yaml:20: columns[1] (total).statistics.severity: Input should be 'warn' or 'error'",
        ),
        (
            "    statistics: {severity: error}\n",
            "orders.yaml:13: columns[1] (total).statistics: declare outliers and/or drift (or remove the statistics section)",
        ),
        (
            STATS.replace("drift:", "drifts:"),
            "orders.yaml:19: columns[1] (total).statistics.drifts: unknown field (typo?)",
        ),
    ],
)
def test_bad_statistics_name_file_line_and_reason(stats, message):
    assert error_of(with_stats(stats)) == message


def test_statistics_must_fit_the_column_type():
    text = GOOD.replace(
        "  - name: total",
        "  - name: status\n    type: string\n    statistics:\n"
        "      outliers: [{method: zscore, max_rate: 0.01}]\n  - name: total",
        1,
    )
    assert error_of(text) == (
        "orders.yaml:10: columns[1] (status): statistics.outliers apply to integer/float columns, not string"
    )
    text = GOOD.replace(
        "  - name: total", "  - name: day\n    type: date\n    statistics: {drift: {psi: 0.1}}\n  - name: total", 1
    )
    assert error_of(text) == (
        "orders.yaml:10: columns[1] (day): statistics.drift applies to numeric and categorical "
        "(string/boolean) columns, not date"
    )
    text = GOOD.replace(
        "  - name: total",
        "  - name: status\n    type: string\n    statistics: {drift: {ks_statistic: 0.1}}\n  - name: total",
        1,
    )
    assert error_of(text) == (
        "orders.yaml:10: columns[1] (status): statistics.drift.ks_statistic applies to numeric "
        "columns only (PSI judges categories)"
    )
    categorical = GOOD.replace(
        "  - name: total", "  - name: status\n    type: string\n    statistics: {drift: {psi: 0.1}}\n  - name: total", 1
    )
    assert parse_contract(categorical).column("status").statistics.drift.psi == 0.1


def test_a_contract_with_statistics_reads_back_from_its_own_dump():
    import json

    for contract in load_contracts():
        assert parse_contract(json.dumps(json.loads(contract.model_dump_json()))) == contract


STREAM = GOOD.replace(
    '  pattern: "orders/*.csv"\n',
    '  format: jsonl\n  pattern: "orders/*.jsonl"\n  stream:\n    kafka:\n      topic: shop.orders\n',
)


def test_stream_source_parses_with_defaults():
    kafka = parse_contract(STREAM).source.stream.kafka
    assert (kafka.topic, kafka.max_records, kafka.max_seconds, kafka.group_id) == ("shop.orders", 10_000, 5.0, None)


@pytest.mark.parametrize(
    "change,expected",
    [
        (
            ("topic: shop.orders", "topic: shop orders"),
            "orders.yaml:9: source.stream.kafka.topic: 'shop orders' is not a Kafka topic name",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      max_records: 0"),
            "orders.yaml:10: source.stream.kafka.max_records: Input should be greater than or equal to 1",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      max_seconds: 120"),
            "orders.yaml:10: source.stream.kafka.max_seconds: Input should be less than or equal to 50",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      bootstrap_servers: kafka://k1:9092"),
            "orders.yaml:10: source.stream.kafka.bootstrap_servers: must be host:port, comma-separated",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      security_env: {sasl.password: hunter2secret}"),
            "source.stream.kafka.security_env: must name an environment variable",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      security_env: {sasl.pasword: DQ_PW}"),
            "source.stream.kafka.security_env: 'sasl.pasword' is not a security property",
        ),
        (
            ("topic: shop.orders", "topic: shop.orders\n      group: g"),
            "source.stream.kafka.group: unknown field (typo?)",
        ),
        (
            ("  format: jsonl\n", "  format: csv\n"),
            "orders.yaml:4: source: a 'stream:' lands one record per line: set format: jsonl",
        ),
        (('pattern: "orders/*.jsonl"', 'pattern: "orders/*/*.jsonl"'), "needs exactly one '*'"),
    ],
)
def test_stream_source_errors_name_file_line_field_and_reason(change, expected):
    msg = error_of(STREAM.replace(*change))
    assert expected in msg
    assert "hunter2secret" not in msg and "Traceback" not in msg
