"""The ``bgmigrate`` command: a click group whose subcommands load only when called.

Start-up time matters (the linter runs in pre-commit), so this module imports click alone;
each command's module, and what it needs (sqlglot, alembic, psycopg), loads on demand.
"""

from __future__ import annotations

import importlib
import sys

import click

from bgmigrate import __version__

# name → "module:attribute"; modules live in bgmigrate.cli.
_COMMANDS = {
    "lint": "bgmigrate.cli.lint:lint",
    "rules": "bgmigrate.cli.catalogue:rules",
    "explain": "bgmigrate.cli.catalogue:explain",
    "plan": "bgmigrate.cli.plan:plan",
    "inspect": "bgmigrate.cli.inspect:inspect",
    "trace": "bgmigrate.cli.trace:trace",
    "switch": "bgmigrate.cli.switch:switch",
    "apply": "bgmigrate.cli.apply:apply",
    "status": "bgmigrate.cli.apply:status",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module the first time it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attribute = target.split(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bgmigrate")
def main() -> None:
    """Ship PostgreSQL schema changes safely under blue-green deployment."""
    # Reports contain non-ASCII characters; never let an odd terminal encoding crash them.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
