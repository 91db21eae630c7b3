"""Connecting to a database: one-line errors with exit status 2, and passwords never shown."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import psycopg
import pytest
from live_support import cli, execute
from pg import dbname_of

from bgmigrate.dsn import DatabaseError, connect, passwords, redact, redact_text

SECRET = "s3cr3t-Pw_" + secrets.token_hex(4)


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        (f"postgresql://app:{SECRET}@db:5432/prod", "postgresql://app:****@db:5432/prod"),
        (f"postgres://app:{SECRET}@db/prod?sslmode=require", "postgres://app:****@db/prod?sslmode=require"),
        (f"postgresql://db/prod?user=app&password={SECRET}", "postgresql://db/prod?user=app&password=****"),
        (f"host=db user=app password={SECRET} dbname=prod", "host=db user=app password=**** dbname=prod"),
        (f"host=db password = '{SECRET} x' dbname=prod", "host=db password=**** dbname=prod"),
        ("postgresql://app@db/prod", "postgresql://app@db/prod"),
    ],
    # Ids without the random secret: every test process must collect the same names.
    ids=["url", "url-with-query", "password-parameter", "keywords", "quoted-keyword", "no-password"],
)
def test_redact_hides_the_password_in_every_dsn_form(dsn: str, shown: str) -> None:
    assert redact(dsn) == shown
    assert SECRET not in redact(dsn)


def test_redact_text_masks_raw_and_percent_decoded_passwords() -> None:
    dsn = "postgresql://app:p%40ss-" + SECRET + "@db/prod"
    text = f"bad things near p@ss-{SECRET} and p%40ss-{SECRET}"
    assert SECRET not in redact_text(text, dsn)
    assert passwords(dsn)[1] == "p@ss-" + SECRET


def test_redact_text_masks_pgpassword_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    assert redact_text(f"auth failed for {SECRET}", "host=db") == "auth failed for ****"


def _assert_one_line_error(done: object, *, code: int = 2) -> str:
    assert done.returncode == code, (done.stdout, done.stderr)  # type: ignore[attr-defined]
    err = done.stderr.strip()  # type: ignore[attr-defined]
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert SECRET not in done.stdout + done.stderr  # type: ignore[attr-defined]
    return str(err)


def test_unreachable_server_is_one_line_exit_2() -> None:
    done = cli("inspect", "--dsn", f"postgresql://app:{SECRET}@127.0.0.1:1/db")
    err = _assert_one_line_error(done)
    assert err.startswith("bgmigrate: error: cannot connect to postgresql://app:****@127.0.0.1:1/db")


def test_libpq_echoing_the_password_is_redacted() -> None:
    # libpq quotes the bad port value back, which here is the password itself.
    done = cli("inspect", "--dsn", f"postgresql://app:{SECRET}@127.0.0.1:{SECRET}/db")
    err = _assert_one_line_error(done)
    assert 'invalid integer value "****"' in err


def test_malformed_key_value_dsn(pg_dsn: str) -> None:
    done = cli("inspect", "--dsn", f"host=127.0.0.1 password={SECRET} nonsense")
    _assert_one_line_error(done)


def test_a_password_libpq_splits_is_masked_in_every_piece() -> None:
    # An unquoted space: libpq quotes the second word back ('missing "=" after "…"').
    err = _assert_one_line_error(cli("inspect", "--dsn", f"host=127.0.0.1 password=abc {SECRET} dbname=x"))
    assert 'missing "=" after "****"' in err
    # An unescaped "@": libpq cuts the password at the first one and takes the rest for the host.
    _assert_one_line_error(cli("inspect", "--dsn", f"postgresql://app:pw@{SECRET}@127.0.0.1:1/db"))


def _as_role(dsn: str, role: str) -> str:
    """The test database's DSN for another (password-carrying) role."""
    return dsn.replace("postgres@", f"{role}:{SECRET}@", 1)


def test_wrong_credentials(pg_dsn: str, tmp_path: Path) -> None:
    role = "bgm_nobody_" + secrets.token_hex(3)
    migration = tmp_path / "0001.sql"
    migration.write_text("ALTER TABLE t ADD COLUMN c int;\n", encoding="utf-8")
    for command in (["inspect"], ["trace", str(migration)]):
        err = _assert_one_line_error(cli(*command, "--dsn", _as_role(pg_dsn, role)))
        assert f'role "{role}" does not exist' in err


def test_missing_privileges_is_one_line(pg_dsn: str) -> None:
    role = "bgm_noconnect_" + secrets.token_hex(3)
    db = dbname_of(pg_dsn)
    execute(pg_dsn, f"CREATE ROLE {role} LOGIN; REVOKE CONNECT ON DATABASE {db} FROM PUBLIC;")
    try:
        err = _assert_one_line_error(cli("inspect", "--dsn", _as_role(pg_dsn, role)))
        assert "permission denied" in err
    finally:
        execute(pg_dsn, f"GRANT CONNECT ON DATABASE {db} TO PUBLIC; DROP ROLE {role};")


def test_query_timeout_is_one_line(pg_dsn: str) -> None:
    execute(pg_dsn, "CREATE TABLE t (id bigint PRIMARY KEY)")
    # Hold a lock one catalog query needs (and logging in does not), so it waits for the timeout.
    with psycopg.connect(pg_dsn) as blocker:
        blocker.execute("LOCK TABLE pg_catalog.pg_enum IN ACCESS EXCLUSIVE MODE")
        done = cli("inspect", "--dsn", pg_dsn, "--statement-timeout", "1", timeout=60)
        blocker.rollback()
    err = _assert_one_line_error(done)
    assert "timed out after 1 s" in err


def test_dsn_from_the_environment(pg_dsn: str, tmp_path: Path) -> None:
    execute(pg_dsn, "CREATE TABLE t (id bigint PRIMARY KEY)")
    done = cli("inspect", "--format", "json", env={**os.environ, "BGMIGRATE_DSN": pg_dsn})
    assert done.returncode == 0, done.stderr
    assert '"name": "t"' in done.stdout


def test_no_dsn_at_all() -> None:
    env = {k: v for k, v in os.environ.items() if k != "BGMIGRATE_DSN"}
    done = cli("inspect", env=env)
    assert done.returncode == 2 and "--dsn" in done.stderr


def test_read_only_connection_refuses_writes(pg_dsn: str) -> None:
    conn = connect(pg_dsn)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE sneaky (id int)")
    finally:
        conn.close()


def test_connect_raises_a_redacted_database_error() -> None:
    with pytest.raises(DatabaseError) as caught:
        connect(f"postgresql://app:{SECRET}@127.0.0.1:1/db", connect_timeout_s=2)
    assert SECRET not in str(caught.value) and "\n" not in str(caught.value)
