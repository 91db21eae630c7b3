"""``bgmigrate trace``: run a migration in a transaction that is rolled back, and report its locks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bgmigrate.cli.errors import fail
from bgmigrate.dsn import DatabaseError
from bgmigrate.exitcodes import FINDINGS, INTERRUPTED, NOT_UNDONE, OK, REFUSED
from bgmigrate.lint.findings import Severity
from bgmigrate.model.migration import Migration

if TYPE_CHECKING:
    from bgmigrate.trace.tracer import TraceRefused
NOT_ROLLED_BACK = NOT_UNDONE  # the transaction ended early or its rollback could not be verified
_MAY_HAVE_COMMITTED = (
    "the trace's transaction ended before trace ended it, or its rollback could not be verified: "
    "changes MAY HAVE BEEN COMMITTED. Check the database ({database}) before using it."
)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--dsn", envvar="BGMIGRATE_DSN", metavar="DSN", help="A staging or throwaway database (or BGMIGRATE_DSN)."
)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--statement-timeout", type=click.IntRange(1, 86400), default=60, show_default=True, metavar="SECONDS",
    help="Cancel a statement that runs longer.",
)  # fmt: skip
@click.option(
    "--fail-on", type=click.Choice(["error", "warning", "info"]), default="error", show_default=True,
    help="Lowest finding severity that fails the run.",
)  # fmt: skip
@click.option(
    "--skip-untraceable", is_flag=True,
    help="Report statements that cannot run in a transaction block (CONCURRENTLY, VACUUM …) as not traced "
    "instead of refusing the file. Transaction control is refused all the same.",
)  # fmt: skip
@click.option("--color/--no-color", default=None, help="Colour the text output (default: on a terminal).")
def trace(
    file: str,
    dsn: str | None,
    fmt: str,
    statement_timeout: int,
    fail_on: str,
    skip_untraceable: bool,
    color: bool | None,
) -> None:
    """Run FILE's statements one by one on a database and record the locks each takes.

    Everything runs in one transaction that is always rolled back (after success, an error, a
    timeout or Ctrl-C), but the statements do run and lock: use a staging or throwaway copy.
    Files with transaction control (BEGIN/COMMIT other than one wrapping the whole file,
    SAVEPOINT, PREPARE TRANSACTION …) or statements that cannot run in a transaction block are
    refused before anything runs. Locks and rewrites the static rules did not predict are
    reported as `unpredicted-lock`.

    Exit status: 0 traced, 1 a statement failed or findings at or above --fail-on,
    2 the file or database could not be read, 3 refused (nothing ran), 5 the transaction ended
    early or its rollback could not be verified (changes may have been committed),
    130 interrupted (rolled back, verified).
    """
    from bgmigrate.lint.catalogue import load_catalogue
    from bgmigrate.lint.settings import LintSettings
    from bgmigrate.live.introspect import read_live_schema
    from bgmigrate.trace.trace import trace_findings
    from bgmigrate.trace.tracer import TraceRefused, run_trace

    if not dsn or not dsn.strip():
        fail("no database given: pass --dsn or set BGMIGRATE_DSN")
    migration = _read(Path(file))
    timeout_ms = statement_timeout * 1000
    try:
        base = read_live_schema(dsn, statement_timeout_ms=timeout_ms)
        result = run_trace(dsn, migration, timeout_ms=timeout_ms, skip_untraceable=skip_untraceable)
    except DatabaseError as exc:
        fail(str(exc))
    except TraceRefused as refused:
        _refuse(migration.path, refused)
    except KeyboardInterrupt:  # before the trace started; once it runs, run_trace handles Ctrl-C
        fail("interrupted", INTERRUPTED)
    catalogue = load_catalogue()
    settings = LintSettings(pg_version=base.server_version or 15)
    findings = trace_findings(migration, result.statements, catalogue, settings, base)
    if fmt == "json":
        report = {
            "database": result.database,
            "path": result.path,
            "server_version": result.server_version,
            "rolled_back": result.rolled_back,
            "interrupted": result.interrupted,
            "transaction_ended": result.transaction_ended,
            "statements": [s.to_dict() for s in result.statements],
            "findings": [f.to_dict() for f in findings],
        }
        sys.stdout.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        from bgmigrate.trace.render import render_trace

        render_trace(result, findings, migration.text, catalogue, sys.stdout, color=color)
    if not result.rolled_back:
        reason = f"{result.transaction_ended}. " if result.transaction_ended else ""
        sys.stderr.write(f"bgmigrate: error: {reason}{_MAY_HAVE_COMMITTED.format(database=result.database)}\n")
        sys.exit(NOT_ROLLED_BACK)
    if result.interrupted:
        sys.exit(INTERRUPTED)
    threshold = Severity.parse(fail_on)
    failed = result.failed is not None or any(f.severity >= threshold for f in findings)
    sys.exit(FINDINGS if failed else OK)


def _refuse(path: str, refused: TraceRefused) -> None:
    """Say which statements stop the trace and why, then exit: nothing ran."""
    from bgmigrate.safetext import display

    for stmt, verdict in refused.refusals:
        sys.stderr.write(display(f"{path}:{stmt.line}: {verdict.kind}: {verdict.reason}") + "\n")
    hint = ""
    if any(v.kind != "forbidden" for _, v in refused.refusals):
        hint = " (--skip-untraceable reports statements that cannot run in a transaction block as not traced)"
    fail(f"{path}: refused, nothing ran: trace runs a file only inside one transaction it rolls back{hint}", REFUSED)


def _read(path: Path) -> Migration:
    """The migration in ``path`` (SQL, or an Alembic revision), or exit 2 saying why not."""
    from bgmigrate.lint.findings import InputError
    from bgmigrate.project.config import Config
    from bgmigrate.project.sources import read_migration

    if not path.is_file():
        fail(f"{path}: no such file")
    loaded = read_migration(path, Config())
    if isinstance(loaded, InputError):
        fail(str(loaded))
    return loaded
