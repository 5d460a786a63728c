"""Settings: one list of environment variables, read through settings.py only, shown as resources.

The masking key reaches the masked asset as a Dagster resource whose config names the variable
(`{"env": "DQ_MASKING_KEY"}`), so the UI's resources page shows where it comes from, never its value.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dq_platform import settings
from dq_platform.cli import main
from dq_platform.defs.resources import MaskingKeyResource, platform_resources
from dq_platform.engine.masking import MaskingKeyError

PACKAGE = Path(__file__).resolve().parents[1] / "dq_platform"
READERS = {"get", "flag", "number", "is_set"}


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            yield node


def test_every_variable_the_code_reads_is_listed_and_nothing_reads_os_environ_for_them():
    listed, read, direct = set(settings.VARIABLES), set(), []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for call in _calls(tree):
            f = call.func
            if (
                isinstance(f.value, ast.Name)
                and f.value.id == "settings"
                and f.attr in READERS
                and call.args
                and isinstance(call.args[0], ast.Constant)
            ):
                read.add(call.args[0].value)
            is_environ = isinstance(f.value, ast.Attribute) and f.value.attr == "environ"
            if (
                is_environ
                and f.attr == "get"
                and call.args
                and isinstance(call.args[0], ast.Constant)
                and call.args[0].value in listed
                and path.name != "settings.py"
            ):
                direct.append(f"{path.relative_to(PACKAGE)}:{call.lineno} {call.args[0].value}")
    assert read <= listed, f"read but not listed in settings.VARIABLES: {sorted(read - listed)}"
    assert not direct, f"read with os.environ instead of settings: {direct}"


def test_settings_cli_lists_variables_and_never_prints_a_secret(monkeypatch, capsys):
    monkeypatch.setenv("DQ_MASKING_KEY", "a-secret-masking-key-that-must-not-show")
    monkeypatch.setenv("DQ_THREADS", "3")
    assert main(["settings"]) == 0
    out = capsys.readouterr().out
    assert "a-secret-masking-key" not in out
    assert "DQ_MASKING_KEY" in out and "set (secret, not shown)" in out
    assert "DQ_THREADS" in out and "= 3" in out
    assert "DQ_STEP_PROCESSES_ABOVE_MB" in out and "DQ_CHUNK_MB" in out and "DQ_WORKERS" in out


def test_masking_key_resource_names_the_variable_not_its_value(monkeypatch):
    monkeypatch.setenv("DQ_MASKING_KEY", "another-secret-masking-key-0123")
    resource = platform_resources("/tmp/wh", "/tmp/landing")["masking"]
    config = resource._convert_to_config_dictionary()
    assert config["key"] == {"env": "DQ_MASKING_KEY"} and "another-secret" not in repr(config)
    assert not resource.resolve().is_dev


def test_a_masking_key_passed_as_a_setting_needs_no_environment(monkeypatch):
    monkeypatch.delenv("DQ_MASKING_KEY", raising=False)
    assert not MaskingKeyResource(key="k" * 20).resolve().is_dev
    with pytest.raises(MaskingKeyError, match="DQ_MASKING_KEY is not set"):
        MaskingKeyResource().resolve()
    assert MaskingKeyResource(allow_dev_key=True).resolve().is_dev


def test_a_malformed_number_is_a_clear_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DQ_ALERT_RETRIES", "three")
    with pytest.raises(settings.SettingsError, match="DQ_ALERT_RETRIES must be a number, not 'three'"):
        settings.number("DQ_ALERT_RETRIES", int)


def test_an_unlisted_variable_cannot_be_read():
    with pytest.raises(KeyError):
        settings.get("DQ_NOT_A_SETTING")


@pytest.mark.parametrize(
    "url, reason",
    [
        ("postgresql://no_such_role:s3cret-pw@127.0.0.1:5432/postgres", 'role "no_such_role" does not exist'),
        ("postgresql://postgres:s3cret-pw@127.0.0.1:5432/no_such_db", 'database "no_such_db" does not exist'),
        ("postgresql://postgres:s3cret-pw@127.0.0.1:1/postgres", "Connection refused"),
    ],
    ids=["role", "database", "port"],
)
def test_a_wrong_postgres_url_is_one_line_naming_host_database_and_role(monkeypatch, tmp_path, capsys, url, reason):
    """Issue #17 (finding 7): not Dagster's retries and a 173-line traceback; never the password."""
    import time

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAGSTER_PG_URL", url)
    monkeypatch.chdir(Path(__file__).parents[1])  # the repository's dagster.yaml template
    t0 = time.monotonic()
    assert main(["audit", "list"]) == 2
    err = capsys.readouterr().err
    assert time.monotonic() - t0 < 10
    assert err.count("\n") == 1 and "s3cret-pw" not in err
    assert err.startswith("dq-platform: Dagster's PostgreSQL storage (DAGSTER_PG_URL) is unreachable: host 127.0.0.1")
    assert reason in err
