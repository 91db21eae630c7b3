"""``bgmigrate inspect``: read a live database's schema, for people (text) or as a snapshot (json)."""

from __future__ import annotations

import sys

import click

from bgmigrate.cli.errors import fail
from bgmigrate.dsn import DatabaseError, redact
from bgmigrate.exitcodes import INTERRUPTED


@click.command()
@click.option("--dsn", envvar="BGMIGRATE_DSN", metavar="DSN", help="Database to read (or set BGMIGRATE_DSN).")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "text"]), help="Output format (default: json with --out, else text)."
)
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True), help="Write to this file (a snapshot for lint --schema)."
)
@click.option(
    "--statement-timeout", type=click.IntRange(1, 3600), default=30, show_default=True, metavar="SECONDS",
    help="Give up on a catalog query that takes longer.",
)  # fmt: skip
@click.option("--color/--no-color", default=None, help="Colour the text output (default: on a terminal).")
def inspect(dsn: str | None, fmt: str | None, out: str | None, statement_timeout: int, color: bool | None) -> None:
    """Read the schema of a live database: tables with sizes, columns, constraints, indexes, enums.

    Read-only: one read-only transaction with a statement timeout, a fixed handful of catalog
    queries, nothing written. `--out snapshot.json` saves what `lint --schema` reads in CI.

    Exit status: 0 read, 2 the database could not be reached or read.
    """
    from bgmigrate.live.introspect import gc_paused, inspect_database
    from bgmigrate.live.snapshot import dumps, schema_from_dict

    if not dsn or not dsn.strip():
        fail("no database given: pass --dsn or set BGMIGRATE_DSN")
    with gc_paused():
        try:
            snapshot = inspect_database(dsn, statement_timeout_ms=statement_timeout * 1000)
        except DatabaseError as exc:
            fail(str(exc))
        except KeyboardInterrupt:
            fail("interrupted", INTERRUPTED)
        fmt = fmt or ("json" if out else "text")
        text = dumps(snapshot) if fmt == "json" else ""
    if fmt == "json":
        _write(text, out)
    else:
        from bgmigrate.trace.render import render_inspect

        schema = schema_from_dict(snapshot)
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                render_inspect(schema, redact(dsn), handle, color=False)
        else:
            render_inspect(schema, redact(dsn), sys.stdout, color=color)
    if out:
        tables = snapshot.get("tables")
        count = len(tables) if isinstance(tables, list) else 0
        click.echo(f"bgmigrate: wrote {fmt} for {count} tables of {redact(dsn)} to {out}", err=True)


def _write(text: str, out: str | None) -> None:
    if out is None:
        sys.stdout.write(text)
        return
    try:
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")
