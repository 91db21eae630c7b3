"""Turning expected failures into one-line messages and exit statuses, never tracebacks."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from bgmigrate.exitcodes import INPUT_ERROR


def explicit_base(dsn: str | None, schema_path: str | None) -> str | None:
    """The DSN to use beside ``--schema``: one from BGMIGRATE_DSN yields to a snapshot named on
    the command line; two given explicitly are a usage error."""
    if not (dsn and schema_path):
        return dsn
    source = click.get_current_context().get_parameter_source("dsn")
    if source is click.core.ParameterSource.ENVIRONMENT:
        return None
    fail("give --dsn or --schema, not both")


def fail(message: str, code: int = INPUT_ERROR) -> NoReturn:
    """Print ``bgmigrate: error: message`` on stderr and exit."""
    from bgmigrate.safetext import display

    click.echo(f"bgmigrate: error: {display(message)}", err=True)  # one line, whatever names it quotes
    sys.exit(code)
