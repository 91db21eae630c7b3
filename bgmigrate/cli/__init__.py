"""The ``bgmigrate`` command: a click group whose subcommands load only when called.

Start-up time matters (the linter runs in pre-commit), so this module imports click alone;
each command's module, and what it needs (sqlglot, alembic, psycopg), loads on demand.

The group also hands the commands what they may not import themselves: ``lint`` gets the
planner's recipe source (``recipe_source``) through the click context, so its fix texts are
rendered from the planner's rewrite while ``bgmigrate.cli.lint`` never imports the planner.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import click

from bgmigrate import __version__

if TYPE_CHECKING:
    from bgmigrate.lint.recipes import RecipeSource

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


def recipe_source() -> RecipeSource:
    """The planner's renderer of lint fix texts (its module loads the planner only when a finding asks)."""
    from bgmigrate.plan.lint_recipes import PlannerRecipes

    return PlannerRecipes()


@dataclass(frozen=True)
class Handed:
    """What the group hands its commands (``ctx.obj``)."""

    recipes: Callable[[], RecipeSource] | None = None


def _as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _set_sigterm(handler: Any) -> bool:
    """Install a SIGTERM handler; False where none can be (not the main thread)."""
    import signal

    try:
        signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return False
    return True


class LazyGroup(click.Group):
    """A group that imports a subcommand's module the first time it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand; Ctrl-C or SIGTERM that no command handles exits 130 (click's own
        "Aborted!" exits 1, which for ``lint`` would read as "findings"; an unhandled SIGTERM
        would kill the process before helper processes are stopped)."""
        import signal

        previous = signal.getsignal(signal.SIGTERM)
        replaced = previous is signal.SIG_DFL and _set_sigterm(_as_interrupt)
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from bgmigrate.exitcodes import INTERRUPTED

            click.echo("bgmigrate: interrupted: nothing more was done", err=True)
            ctx.exit(INTERRUPTED)
        finally:
            if replaced:
                _set_sigterm(previous)

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
@click.pass_context
def main(ctx: click.Context) -> None:
    """Ship PostgreSQL schema changes safely under blue-green deployment."""
    ctx.obj = Handed(recipes=recipe_source)
    # Reports contain non-ASCII characters; never let an odd terminal encoding crash them.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
