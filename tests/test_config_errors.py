"""Configuration a person can trust: every mistake is one line naming file, line and key, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

MIGRATION = "ALTER TABLE orders DROP COLUMN legacy;\n"


def bgmigrate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )


def _project(tmp_path: Path, config: str, name: str = "pyproject.toml") -> Path:
    (tmp_path / name).write_text(config, encoding="utf-8")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "0001_drop.sql").write_text(MIGRATION, encoding="utf-8")
    return tmp_path


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert done.stdout.strip() == "", "nothing is linted with a broken configuration"
    return lines[0]


@pytest.mark.parametrize(
    ("config", "line", "key", "hint"),
    [
        (
            '[tool.bgmigrate]\nselect = ["style"]\nseverity = { drop-column = "fatal" }\n',
            3,
            "severity",
            "error, warning or info",
        ),
        ('[tool.bgmigrate]\n\nselect = ["drop-colum"]\n', 3, "select", "did you mean 'drop-column'"),
        ('[tool.bgmigrate]\nignore = ["prefer-bigin"]\n', 2, "ignore", "did you mean 'prefer-bigint'"),
        ('[tool.bgmigrate]\nseverity = { "set-not-nul" = "info" }\n', 2, "severity", "did you mean 'set-not-null'"),
        (
            '[tool.bgmigrate]\nper-path-ignores = { "m/*" = ["drop-collumn"] }\n',
            2,
            "per-path-ignores",
            "did you mean 'drop-column'",
        ),
        ('[tool.bgmigrate]\nfail-on = "warn"\n', 2, "fail-on", "did you mean 'warning'"),
        ('[tool.bgmigrate]\npg-version = "fifteen"\n', 2, "pg-version", "a whole number"),
        ("[tool.bgmigrate]\npg-version = 9\n", 2, "pg-version", "between"),
        ("[tool.bgmigrate]\nsmall-table-rows = -5\n", 2, "small-table-rows", "must not be negative"),
        ('[tool.bgmigrate]\nassume-in-transaction = "yes"\n', 2, "assume-in-transaction", "true or false"),
        ('[tool.bgmigrate]\nselct = ["style"]\n', 2, "selct", "did you mean 'select'"),
        ('[tool.bgmigrate]\nexclude = "m/*.sql"\nignore = [1]\n', 3, "ignore", "list of strings"),
    ],
)
def test_a_bad_value_names_file_line_and_key(tmp_path: Path, config: str, line: int, key: str, hint: str) -> None:
    project = _project(tmp_path, config)
    message = _one_line_error(bgmigrate("lint", "m", cwd=project))
    assert f"pyproject.toml:{line}:" in message, message
    assert repr(key) in message or f"'{key}'" in message, message
    assert hint in message, message


def test_the_same_mistakes_in_bgmigrate_toml(tmp_path: Path) -> None:
    project = _project(tmp_path, '# team settings\n[lint]\nfail-on = "warning"\nselect = ["styel"]\n', "bgmigrate.toml")
    message = _one_line_error(bgmigrate("lint", "m", cwd=project))
    assert "bgmigrate.toml:4:" in message and "did you mean 'style'" in message


@pytest.mark.parametrize(
    "broken",
    ['[tool.bgmigrate\nselect = ["style"]\n', '[tool.bgmigrate]\nselect = ["style"\n', "[project]\nname = 'x\n"],
)
def test_a_broken_pyproject_is_an_error_not_silent_defaults(tmp_path: Path, broken: str) -> None:
    project = _project(tmp_path, broken)
    message = _one_line_error(bgmigrate("lint", "m", cwd=project))
    assert "pyproject.toml:" in message and "line" not in message.split("pyproject.toml:", 1)[0]
    assert message.split("pyproject.toml:", 1)[1].split(":", 1)[0].isdigit(), message


def test_an_unknown_cli_selector_suggests_a_name(tmp_path: Path) -> None:
    project = _project(tmp_path, "[project]\nname = 'x'\n")
    message = _one_line_error(bgmigrate("lint", "--select", "rename-colum", "m", cwd=project))
    assert "--select" in message and "did you mean 'rename-column'" in message


def test_a_good_configuration_still_lints(tmp_path: Path) -> None:
    project = _project(tmp_path, '[tool.bgmigrate]\nfail-on = "warning"\nseverity = { drop-column = "warning" }\n')
    done = bgmigrate("lint", "--format", "json", "m", cwd=project)
    assert done.returncode == 1, done.stderr
    [finding] = [f for f in json.loads(done.stdout)["findings"] if f["rule"] == "drop-column"]
    assert finding["severity"] == "warning"


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresq://app:s3cret-pw@127.0.0.1:1/app",
        "postgresql://app:s3cret-pw@127.0.0.1:1/app?sslmod=disable",
        "host=127.0.0.1 port=1 user=app pasword=s3cret-pw dbname=app",
        "host=127.0.0.1 port=1 user=app password=s3cret-pw dbname=app sslmode=bogus",
        "postgresql://app:s3cret-pw@127.0.0.1:notaport/app",
        "app:s3cret-pw@127.0.0.1/app",
    ],
)
def test_a_mistyped_dsn_never_echoes_the_password(tmp_path: Path, dsn: str) -> None:
    project = _project(tmp_path, "[project]\nname = 'x'\n")
    for args in (("lint", "--dsn", dsn, "m"), ("inspect", "--dsn", dsn)):
        done = bgmigrate(*args, cwd=project)
        assert done.returncode == 2, (args, done.stderr)
        assert "s3cret-pw" not in done.stdout + done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_live_verdicts_are_the_same_for_a_folder_and_for_one_file_of_it(tmp_path: Path, pg_dsn: str) -> None:
    # The live database already holds what 0001 created (and has rows in it); linting the folder
    # replays 0001 too, and that replay must not replace the live table by an empty stand-in.
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id bigint PRIMARY KEY, status text)")
        conn.execute("INSERT INTO orders SELECT g, 'new' FROM generate_series(1, 30000) g")
        conn.execute("ANALYZE orders")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001_orders.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY, status text);\n")
    (folder / "0002_index.sql").write_text(
        "SET lock_timeout = '1s';\nCREATE INDEX orders_status_idx ON orders (status);\n"
    )
    args = ("lint", "--no-cache", "--format", "json", "--dsn", pg_dsn)
    whole = bgmigrate(*args, "m", cwd=tmp_path)
    single = bgmigrate(*args, "m/0002_index.sql", cwd=tmp_path)

    def in_0002(done: subprocess.CompletedProcess[str]) -> list[tuple[str, int, str, str]]:
        assert "Traceback" not in done.stderr, done.stderr
        return [
            (f["rule"], f["line"], f["severity"], f["message"])
            for f in json.loads(done.stdout)["findings"]
            if f["path"].endswith("0002_index.sql")
        ]

    assert in_0002(whole) == in_0002(single)
    [index] = [f for f in in_0002(single) if f[0] == "non-concurrent-index"]
    assert index[2] == "error" and "orders: ~30 k rows" in index[3]
