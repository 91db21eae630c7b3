"""Run a catalogue example through the linter, as the tests and ``bgmigrate explain`` do."""

from __future__ import annotations

import copy
import json
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

from bgmigrate.lint.catalogue import Catalogue, Example
from bgmigrate.lint.engine import lint_migrations
from bgmigrate.lint.findings import Finding, InputError
from bgmigrate.lint.selection import select_rules
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model.migration import Migration
from bgmigrate.model.schema import Schema
from bgmigrate.parse.source import load_sql

_ALEMBIC_TEMPLATE = '''"""example"""
from alembic import op
import sqlalchemy as sa

revision = "example"
down_revision = None


def upgrade():
{body}
'''


def _migration(example: Example, settings: LintSettings) -> Migration:
    if example.format == "alembic":
        from bgmigrate.project.alembic_offline import load_alembic

        body = textwrap.indent(textwrap.dedent(example.sql).strip() or "pass", "    ")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "example.py"
            path.write_text(_ALEMBIC_TEMPLATE.format(body=body), encoding="utf-8")
            return replace(load_alembic(path), path="example.py")
    return load_sql("example.sql", example.sql, assume_in_transaction=settings.assume_in_transaction)


def lint_example(example: Example, catalogue: Catalogue, rule: str) -> tuple[list[Finding], list[InputError]]:
    """Lint one example with its own settings and ``rule`` selected (even if off by default)."""
    settings = LintSettings(
        pg_version=example.pg_version or 15,
        assume_in_transaction=bool(example.assume_in_transaction),
        select=(rule,),
    )
    migrations = []
    if example.setup.strip():
        migrations.append(load_sql("setup.sql", example.setup, assume_in_transaction=False))
    migrations.append(_migration(example, settings))
    report = {migrations[-1].path}
    base = _live_schema(example)
    findings, errors = lint_migrations(
        migrations, catalogue, settings, select_rules(catalogue, settings), schema=copy.deepcopy(base), report=report
    )
    if example.observed:
        from bgmigrate.trace.trace import observed_from_dicts, trace_findings

        observed = observed_from_dicts(json.loads(example.observed))
        findings += trace_findings(migrations[-1], observed, catalogue, settings, base)
    return findings, errors


def _live_schema(example: Example) -> Schema | None:
    """The example's live database, read exactly as ``lint --schema`` reads a snapshot."""
    if not example.schema:
        return None
    from bgmigrate.live.snapshot import loads

    return loads(example.schema, "example schema")
