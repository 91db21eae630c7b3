"""Turning expected failures into one-line messages and exit statuses, never tracebacks."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from bgmigrate.exitcodes import INPUT_ERROR


def fail(message: str, code: int = INPUT_ERROR) -> NoReturn:
    """Print ``bgmigrate: error: message`` on stderr and exit."""
    click.echo(f"bgmigrate: error: {message}", err=True)
    sys.exit(code)
