"""Publishing to a real PostgreSQL on 127.0.0.1 (`pg_databases`): `<name>_postgres` after each file's run.

The URL carries a password (trust auth ignores it) so the tests can prove it never appears in the run's
logs, its metadata or the command output.
"""

import json
import logging

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from dq_platform.contract import CONTRACTS_DIR
from dq_platform.demo.event_producer import build_file
from dq_platform.engine import rules
from dq_platform.io.landing_zones import landing_zone

pytestmark = pytest.mark.slow
PASSWORD = "pg-events-pw-never-printed-51c"


@pytest.fixture
def pg(pg_databases, monkeypatch):
    db = pg_databases("events")
    url = f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/{db}"
    monkeypatch.setenv("DQ_EVENTS_PG_URL", url)
    engine = sa.create_engine(f"postgresql://postgres@127.0.0.1:5432/{db}")
    yield url, engine
    engine.dispose()


@pytest.fixture
def logs_project(make_project):
    return make_project((CONTRACTS_DIR / "events_logs.yaml").read_text())


def deliver(project, k: int, files: int = 2):
    rel, data, _, _ = build_file(
        "logs", k, files=files, events=240, seed=11, start="2025-01-01T10:00:00Z", rate=4.0, incidents=True, messy=True
    )
    landing_zone(project.landing).put(rel, data)
    return project.landing / rel


def sql(engine, query: str) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(sa.text(query), conn)


def run_text(instance, run_id: str) -> str:
    """Everything the run recorded: log messages and event metadata."""
    return "\n".join(
        f"{e.user_message} {e.dagster_event.event_specific_data if e.dagster_event else ''}"
        for e in instance.all_logs(run_id)
    )


def test_masked_rows_and_anomalies_are_published_and_a_rerun_replaces_them(logs_project, instance, pg, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    url, engine = pg
    project = logs_project
    second = project.ingest(instance, "events_logs", deliver(project, 1))  # the later file first
    first = project.ingest(instance, "events_logs", deliver(project, 0))
    assert first.success and second.success, (first.error, second.error)

    wh = project.wh()
    masked = wh.read("masked_events_logs")
    published = sql(engine, "SELECT * FROM events_logs")
    assert len(published) == len(masked) == first.rows["masked"] + second.rows["masked"]
    key = [rules.PARTITION, rules.SOURCE_LINE]
    pub = published.sort_values(key).reset_index(drop=True)
    exp = masked.sort_values(key).reset_index(drop=True)
    assert (
        pub[key + ["service", "level", "message", "user_id"]]
        .astype(str)
        .equals(exp[key + ["service", "level", "message", "user_id"]].astype(str))
    )
    assert (pub["timestamp"] == exp["timestamp"]).all()
    assert published["message"].str.contains("[email]", regex=False).any()  # masked, not cleaned, left the warehouse
    assert not published["message"].str.contains(r"@\w+\.\w", regex=True).any()
    assert published["user_id"].str.startswith("tk_").all() or published["user_id"].isna().any()

    anomalies = sql(engine, "SELECT * FROM events_logs_anomalies")
    delta = wh.read("events_logs_anomalies")
    assert len(anomalies) == len(delta) == 1
    assert anomalies.loc[0, "description"] == delta.loc[0, "description"]
    assert anomalies.loc[0, "partitions"] == f"{first.partition},{second.partition}"

    # a re-run of a file replaces its rows (and the recomputed anomalies): nothing doubles
    again = project.ingest(instance, "events_logs", deliver(project, 0))
    assert again.success and again.partition == first.partition
    counts = sql(engine, "SELECT _partition, count(*) AS n FROM events_logs GROUP BY 1").set_index("_partition")["n"]
    assert counts.to_dict() == {first.partition: first.rows["masked"], second.partition: second.rows["masked"]}
    assert len(sql(engine, "SELECT * FROM events_logs_anomalies")) == 1
    marker = sql(engine, "SELECT * FROM dq_published")
    assert marker["table_name"].tolist() == ["events_logs_anomalies"]
    assert marker["delta_version"].tolist() == [wh.table("events_logs_anomalies").version()]

    mat = instance.get_latest_materialization_event(dg.AssetKey("events_logs_postgres")).asset_materialization
    meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    assert meta["rows_published"] == first.rows["masked"] and meta["rows_replaced"] == first.rows["masked"]
    assert meta["target"].startswith("postgresql://postgres:***@127.0.0.1:5432/")
    everything = "\n".join([json.dumps(meta), caplog.text, capsys.readouterr().out, run_text(instance, again.run_id)])
    assert PASSWORD not in everything


def test_without_the_variable_nothing_is_published_and_the_step_says_so(logs_project, instance, pg, monkeypatch):
    url, engine = pg
    monkeypatch.delenv("DQ_EVENTS_PG_URL")
    out = logs_project.ingest(instance, "events_logs", deliver(logs_project, 0))
    assert out.success
    assert sa.inspect(engine).get_table_names() == []
    assert instance.get_latest_materialization_event(dg.AssetKey("events_logs_postgres")) is None
    assert "DQ_EVENTS_PG_URL is not set: nothing published to PostgreSQL" in run_text(instance, out.run_id)


def test_a_failed_publication_names_no_password_and_the_next_run_catches_up(
    logs_project, instance, pg, dead_url, monkeypatch
):
    url, engine = pg
    port = dead_url.rsplit(":", 1)[1]
    monkeypatch.setenv("DQ_EVENTS_PG_URL", url.replace(":5432/", f":{port}/"))
    failed = logs_project.ingest(instance, "events_logs", deliver(logs_project, 0))
    assert not failed.success
    assert failed.error.startswith("events_logs_postgres: ")
    assert "PublishError: publishing events_logs to postgresql://postgres:***@127.0.0.1:" in failed.error
    assert PASSWORD not in failed.error and PASSWORD not in run_text(instance, failed.run_id)
    # masked and the anomalies were written before the publication failed
    assert failed.partition in logs_project.wh().row_counts("masked_events_logs")

    monkeypatch.setenv("DQ_EVENTS_PG_URL", url)
    ok = logs_project.ingest(instance, "events_logs", deliver(logs_project, 1))
    assert ok.success, ok.error
    # the anomalies table was never mirrored: this run mirrors it whole, burst included
    mat = instance.get_latest_materialization_event(dg.AssetKey("events_logs_postgres")).asset_materialization
    assert mat.metadata["anomalies_mode"].value == "whole table"
    assert len(sql(engine, "SELECT * FROM events_logs_anomalies")) == len(
        logs_project.wh().read("events_logs_anomalies")
    )
    assert sql(engine, "SELECT DISTINCT _partition FROM events_logs")["_partition"].tolist() == [ok.partition]


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432:5432/x",  # does not parse
        f"postgresql+nodriver://postgres:{PASSWORD}@127.0.0.1/x",  # no such driver
        f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/no_such_database_here",
    ],
)
def test_a_bad_url_fails_with_a_message_that_never_holds_the_password(tmp_path, url):
    from dq_platform.contract import load_contract
    from dq_platform.io.postgres import PublishError, publish
    from dq_platform.io.warehouse import Warehouse

    with pytest.raises(PublishError) as e:
        publish(url, load_contract(CONTRACTS_DIR / "events_logs.yaml"), Warehouse(root=str(tmp_path)), "f@0", "run")
    assert str(e.value).startswith("publishing events_logs to ") and PASSWORD not in str(e.value)
