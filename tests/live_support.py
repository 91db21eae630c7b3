"""Helpers for the live-schema tests: set a real database up, lint against it, run the CLI."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import psycopg

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.findings import Finding
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model.schema import Schema
from bgmigrate.parse.source import load_sql

ROOT = Path(__file__).resolve().parent.parent


def execute(dsn: str, sql: str) -> None:
    """Run setup SQL (several statements) in autocommit."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.encode())


def fill(dsn: str, table: str, rows: int) -> None:
    """Insert ``rows`` rows into a table with (id bigint, note text) and ANALYZE it."""
    execute(
        dsn,
        f"INSERT INTO {table} (id, note) SELECT g, 'n' || g FROM generate_series(1, {rows}) g; ANALYZE {table};",
    )


def lint(base: Schema | None, *files: str, settings: LintSettings | None = None) -> list[Finding]:
    """Lint migrations (SQL texts, in order) against a copy of ``base``; the last one is reported."""
    settings = settings or LintSettings()
    catalogue = load_catalogue()
    migrations = [load_sql(f"{i:04d}.sql", text) for i, text in enumerate(files, start=1)]
    findings, errors = lint_migrations(
        migrations,
        catalogue,
        settings,
        select_rules(catalogue, settings),
        schema=copy.deepcopy(base) if base is not None else None,
        report={migrations[-1].path},
    )
    assert errors == [], errors
    return findings


def by_rule(findings: list[Finding], rule: str) -> list[Finding]:
    return [f for f in findings if f.rule == rule]


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
        check=False,
    )
