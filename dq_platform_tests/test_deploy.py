"""The deployable stack, validated without a Docker engine.

docker-compose.yml is checked by Debian's `docker-compose config` (when installed) and always
against the Compose specification's JSON schema (fixtures/compose_spec.json, shipped with
docker-compose 1.29.2, Apache-2.0), then for consistent wiring: one set of DAGSTER_PG_* shared by
PostgreSQL and every Dagster service, the object store's credentials, the workspace pointing at
the gRPC service, and the image's instance config equal to dagster.yaml rendered for production.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from dq_platform.settings import render_instance_config

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
READERS = {"api": 8080, "dashboard": 8501}  # read-only services (docs/dashboard-and-api.md) and their ports
MONITORING_SERVICES = ("metrics", "prometheus", "grafana")  # docs/metrics.md
DASK_SERVICES = ("dask-scheduler", "dask-worker")  # docs/scaling.md


def _raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # YAML anchors and merge keys resolved


def _env_refs(config_text: str) -> set[str]:
    return set(re.findall(r"env: (\w+)", config_text))


def test_compose_file_matches_the_compose_specification_schema():
    import jsonschema

    schema = json.loads((Path(__file__).parent / "fixtures" / "compose_spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(_raw()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)
    # the validator is live: a misspelt key is rejected
    broken = _raw()
    broken["services"]["webserver"]["enviroment"] = {}
    assert any("enviroment" in e.message for e in validator.iter_errors(broken))


def test_docker_compose_config_accepts_the_stack_and_interpolates_one_set_of_credentials(tmp_path):
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip(
            "docker-compose is not installed (apt-get install docker-compose); "
            "the Compose schema test still validates the file"
        )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "DQ_MASKING_KEY": "compose-test-key",
        "DAGSTER_PG_PASSWORD": "compose-test-pw",
    }
    missing = subprocess.run(
        [exe, "-f", str(COMPOSE), "config"],
        env={k: v for k, v in env.items() if k != "DQ_MASKING_KEY"},
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert missing.returncode != 0 and "set DQ_MASKING_KEY" in missing.stderr  # required, no default

    done = subprocess.run([exe, "-f", str(COMPOSE), "config"], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    config = yaml.safe_load(done.stdout)
    services = config["services"]
    assert set(services) == {
        "postgres",
        "objectstore",
        "buckets",
        "kafka",
        *DAGSTER_SERVICES,
        *READERS,
        *MONITORING_SERVICES,
        *DASK_SERVICES,
    }
    metrics = services["metrics"]["environment"]  # the exporter gets the storage's variables, no other secret
    assert metrics["DAGSTER_PG_PASSWORD"] == "compose-test-pw" and "DQ_MASKING_KEY" not in metrics
    pg = services["postgres"]["environment"]
    for name in DAGSTER_SERVICES:
        e = services[name]["environment"]
        assert e["DAGSTER_PG_PASSWORD"] == pg["POSTGRES_PASSWORD"] == "compose-test-pw"
        assert (e["DAGSTER_PG_USER"], e["DAGSTER_PG_DB"]) == (pg["POSTGRES_USER"], pg["POSTGRES_DB"])
        assert e["DQ_MASKING_KEY"] == "compose-test-key"
        assert e["DQ_KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"  # the stream sensors drain the stack's broker
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert Path(services["user_code"]["build"]["context"]) == REPO
    # the data API and the dashboard read the same instance and warehouse as the daemon
    for name, port in READERS.items():
        e = services[name]["environment"]
        for key in ("DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DQ_WAREHOUSE_URI", "AWS_ENDPOINT_URL"):
            assert e[key] == services["daemon"]["environment"][key], (name, key)
        cmd = services[name]["command"]
        assert cmd[:2] == ["dq-platform", name] and cmd[cmd.index("--port") + 1] == str(port)
        assert any(p["target"] == port for p in services[name]["ports"])
    assert services["api"]["environment"]["DQ_API_TOKEN"] == ""  # off unless the operator sets it
    # chunks run on the stack's Dask cluster; its workers reach the same S3 and masking key as the runs
    port = services["dask-scheduler"]["command"][services["dask-scheduler"]["command"].index("--port") + 1]
    worker = services["dask-worker"]
    assert worker["command"][:3] == ["dask", "worker", f"tcp://dask-scheduler:{port}"]
    for name in DAGSTER_SERVICES:
        assert services[name]["environment"]["DQ_DASK_SCHEDULER"] == f"tcp://dask-scheduler:{port}"
    for key in ("DQ_WAREHOUSE_URI", "DQ_LANDING_URI", "AWS_ENDPOINT_URL", "AWS_SECRET_ACCESS_KEY", "DQ_MASKING_KEY"):
        assert worker["environment"][key] == services["daemon"]["environment"][key], key


def test_every_service_is_wired_to_the_same_postgres_store_and_code_server():
    compose = _raw()
    services = compose["services"]
    envs = [services[name]["environment"] for name in DAGSTER_SERVICES]
    assert all(e == envs[0] for e in envs), "the Dagster services must share one environment"
    env, pg = envs[0], services["postgres"]["environment"]
    # PostgreSQL: the database the server creates is the one Dagster connects to, with the same user
    assert env["DAGSTER_PG_HOST"] == "postgres" and "postgres" in services
    assert (env["DAGSTER_PG_USER"], env["DAGSTER_PG_PASSWORD"], env["DAGSTER_PG_DB"]) == (
        pg["POSTGRES_USER"],
        pg["POSTGRES_PASSWORD"],
        pg["POSTGRES_DB"],
    )
    # the image's instance config reads exactly these variables, and is dagster.yaml rendered for production
    production = (REPO / "deploy" / "dagster.production.yaml").read_text()
    assert production == render_instance_config(
        REPO / "dagster.yaml",
        {"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USER": "u", "DAGSTER_PG_PASSWORD": "p", "DAGSTER_PG_DB": "d"},
    )
    assert _env_refs(production) <= set(env) and "QueuedRunCoordinator" in production
    assert "COPY deploy/dagster.production.yaml $DAGSTER_HOME/dagster.yaml" in (REPO / "Dockerfile").read_text()
    # S3: the endpoint is the object store, with its root credentials; the buckets job creates both buckets
    store = services["objectstore"]
    assert env["AWS_ENDPOINT_URL"] == "http://objectstore:9000" and "9000:9000" in store["ports"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (
        store["environment"]["MINIO_ROOT_USER"],
        store["environment"]["MINIO_ROOT_PASSWORD"],
    )
    buckets = " ".join(services["buckets"]["entrypoint"])
    for uri in (env["DQ_WAREHOUSE_URI"], env["DQ_LANDING_URI"]):
        assert f"store/{uri.removeprefix('s3://').split('/')[0]}" in buckets
    # the webserver and daemon load the code location from the user_code gRPC server
    cmd = services["user_code"]["command"]
    port = int(cmd[cmd.index("-p") + 1])
    workspace_file = "deploy/workspace.docker.yaml"
    assert f"COPY {workspace_file} ./{workspace_file}" in (REPO / "Dockerfile").read_text()
    [location] = yaml.safe_load((REPO / workspace_file).read_text())["load_from"]
    assert location["grpc_server"]["host"] == "user_code" and location["grpc_server"]["port"] == port
    for name in ("webserver", "daemon"):
        c = services[name]["command"]
        assert c[c.index("-w") + 1] == f"/opt/dq_platform/{workspace_file}"


def test_instance_config_is_one_variable_away_and_never_holds_a_secret(monkeypatch, tmp_path):
    from dq_platform.settings import instance_mode

    template = REPO / "dagster.yaml"
    embedded = yaml.safe_load(render_instance_config(template, {}))
    assert "storage" not in embedded and embedded["concurrency"]["runs"]["max_concurrent_runs"] == 2
    url = yaml.safe_load(render_instance_config(template, {"DAGSTER_PG_URL": "postgresql://u:secret@h/db"}))
    assert url["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    assert url["run_coordinator"]["class"] == "QueuedRunCoordinator"
    text = render_instance_config(
        template,
        {"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USER": "u", "DAGSTER_PG_PASSWORD": "secret", "DAGSTER_PG_DB": "d"},
    )
    assert "secret" not in text and yaml.safe_load(text)["storage"]["postgres"]["postgres_db"]["password"] == {
        "env": "DAGSTER_PG_PASSWORD"
    }
    with pytest.raises(ValueError, match="DAGSTER_PG_PASSWORD, DAGSTER_PG_DB not set"):
        instance_mode({"DAGSTER_PG_HOST": "h", "DAGSTER_PG_USER": "u"})
    # each rendering loads as a Dagster instance config
    from dagster._core.instance.config import dagster_instance_config

    for i, env in enumerate(({}, {"DAGSTER_PG_URL": "postgresql://u:secret@127.0.0.1:1/db"})):
        home = tmp_path / str(i)
        home.mkdir()
        (home / "dagster.yaml").write_text(render_instance_config(template, env))
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        config, _ = dagster_instance_config(str(home))
        assert ("storage" in config) == bool(env)


def test_every_publication_variable_of_the_shipped_contracts_reaches_the_dagster_services():
    from dq_platform.contract import load_contracts

    needed = {c.publish.postgres.url_env for c in load_contracts() if c.publish and c.publish.postgres}
    assert needed == {"DQ_EVENTS_PG_URL"}
    env = _raw()["services"]["daemon"]["environment"]
    assert needed <= set(env) and env["DQ_EVENTS_PG_URL"] == "${DQ_EVENTS_PG_URL:-}"  # empty: not published
