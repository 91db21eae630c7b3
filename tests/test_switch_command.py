"""The command backend (a cloud load balancer, DNS): user commands under the same gates."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from switchkit import Rig, apps

from bgmigrate.cli import main
from bgmigrate.exitcodes import FAILED, REFUSED

WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2] + ' from ' + sys.argv[3])"


@pytest.fixture
def rig(tmp_path: Path, pg_dsn: str) -> Iterator[Rig]:
    routed = tmp_path / "routed.txt"
    switch = json.dumps([sys.executable, "-c", WRITE, str(routed), "{to}", "{from}"])
    with apps() as (blue, green):
        yield Rig(tmp_path, pg_dsn, blue, green, command=f"switch = {switch}")


def routed(rig: Rig) -> str:
    return (rig.root / "routed.txt").read_text()


def test_command_runs_only_when_the_gates_pass(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    assert routed(rig) == "blue from "
    rig.green.healthy = False
    assert rig.cli("promote", "green").exit_code == REFUSED
    assert routed(rig) == "blue from "  # never ran
    rig.green.healthy = True
    result = rig.cli("promote", "green")
    assert result.exit_code == 0, result.output
    assert routed(rig) == "green from blue"


def test_failed_check_switches_back(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    text = rig.config_path.read_text()
    fail = json.dumps([sys.executable, "-c", "import sys; sys.exit(sys.argv[1] == 'green')", "{to}"])
    rig.config_path.write_text(text.replace("[switch.command]\n", f"[switch.command]\ncheck = {fail}\n"))
    result = rig.cli("promote", "green")
    assert result.exit_code == FAILED, result.output
    assert "command: check" in result.output
    assert routed(rig) == "blue from green"  # the switch command ran back toward blue
    assert rig.status()["active"] == "blue"


def test_log_json_shape(rig: Rig) -> None:
    assert rig.cli("init", "blue").exit_code == 0
    rig.cli("promote", "blue")  # refused: already active
    entries = rig.log()
    assert [(e["action"], e["target"], e["outcome"]) for e in entries] == [
        ("init", "blue", "done"), ("promote", "blue", "refused")
    ]  # fmt: skip
    for entry in entries:
        assert set(entry) == {"at", "actor", "action", "target", "outcome", "gates", "detail"}
        assert all(set(g) == {"name", "ok", "detail"} for g in entry["gates"])  # type: ignore[union-attr]


def test_unreadable_state_is_one_line(rig: Rig) -> None:
    """status and log report a driver error as one line, exit 2, like every other command."""
    import psycopg

    with psycopg.connect(rig.dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA bgmigrate; CREATE TABLE bgmigrate.switch_state (unrelated int)")
    for args in (("status",), ("log",)):
        result = CliRunner().invoke(main, ["switch", *args, "--config", str(rig.config_path)])
        assert result.exit_code == 2, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.stderr.startswith("bgmigrate: error: cannot read the switch state: ")
        assert result.stderr.count("\n") == 1
