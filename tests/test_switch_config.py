"""Switch configuration and the CLI's usage errors: no proxy, no database needed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.exitcodes import INPUT_ERROR
from bgmigrate.switch.config import Requirement, SwitchConfigError, load_switch_config
from bgmigrate.switch.db import DatabaseError, connect

BASE = """
[database]
dsn = "postgresql://app:s3cret@127.0.0.1:1/app"

[switch]
backend = "nginx"

[switch.nginx]
upstream_file = "conf.d/up.conf"

[environments.blue]
address = ["127.0.0.1:8001", "127.0.0.1:8002"]
health_url = "http://127.0.0.1:8001/health"
application_name = "shop-blue"

[environments.green]
address = "127.0.0.1:8003"
health_url = "http://127.0.0.1:8003/health"
requires = ["0002_rename_status:migrate"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bgmigrate.toml"
    path.write_text(text)
    return path


def test_reads_the_spec_example(tmp_path: Path) -> None:
    config = load_switch_config(write(tmp_path, BASE), environ={})
    assert config.environment("blue").addresses == ("127.0.0.1:8001", "127.0.0.1:8002")
    assert config.environment("green").requires == (Requirement("0002_rename_status", "migrate"),)
    assert config.nginx is not None and config.nginx.upstream_file == tmp_path / "conf.d/up.conf"
    assert config.nginx.test == ("nginx", "-t")


def test_environment_dsn_wins(tmp_path: Path) -> None:
    config = load_switch_config(write(tmp_path, BASE), environ={"BGMIGRATE_DSN": "postgresql://ci@127.0.0.1/x"})
    assert config.dsn == "postgresql://ci@127.0.0.1/x"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('backend = "nginx"', 'backend = "f5"'), "backend must be one of"),
        (('requires = ["0002_rename_status:migrate"]', 'requires = ["0002:deploy"]'), "not 'plan_id:phase'"),
        (('address = "127.0.0.1:8003"', 'address = "127.0.0.1:8003; include /etc/passwd"'), "may not contain"),
        (('application_name = "shop-blue"', 'aplication_name = "x"'), "unknown key 'aplication_name'"),
    ],
)
def test_bad_configuration_is_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    with pytest.raises(SwitchConfigError, match=message):
        load_switch_config(write(tmp_path, BASE.replace(*change)), environ={})


def test_connect_errors_never_show_the_password(tmp_path: Path) -> None:
    config = load_switch_config(write(tmp_path, BASE), environ={})
    with pytest.raises(DatabaseError) as caught:
        connect(config.dsn)
    assert "s3cret" not in str(caught.value) and "\n" not in str(caught.value)


def test_cli_usage_errors_exit_2(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["switch", "status", "--config", str(tmp_path / "nope.toml")])
    assert missing.exit_code == INPUT_ERROR and "Traceback" not in missing.output
    path = write(tmp_path, BASE)
    gradual = runner.invoke(main, ["switch", "promote", "green", "--gradual", "10,100", "--config", str(path)])
    assert gradual.exit_code == INPUT_ERROR
    assert "haproxy" in gradual.output
    bad_steps = runner.invoke(main, ["switch", "promote", "green", "--gradual", "50,10", "--config", str(path)])
    assert bad_steps.exit_code == INPUT_ERROR


def test_no_config_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["switch", "log"])
    assert result.exit_code == INPUT_ERROR
    assert "no bgmigrate.toml" in result.output
