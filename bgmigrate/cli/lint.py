"""``bgmigrate lint``: lint SQL and Alembic migrations and report for people or machines."""

from __future__ import annotations

import sys

import click

from bgmigrate.cli.errors import explicit_base, fail
from bgmigrate.lint.catalogue import Catalogue, CatalogueError, load_catalogue
from bgmigrate.lint.findings import Severity
from bgmigrate.lint.recipes import RecipeSource
from bgmigrate.lint.selection import SelectionError
from bgmigrate.project.config import ConfigError
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint
from bgmigrate.report import FORMATS, render
from bgmigrate.safetext import display

_SEVERITIES = click.Choice(["error", "warning", "info"], case_sensitive=False)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Report format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write the report to a file.")
@click.option("--fail-on", type=_SEVERITIES, help="Lowest severity that fails the run (default: error).")
@click.option("--pg-version", type=click.IntRange(9, 99), help="PostgreSQL major version to judge for (default 15).")
@click.option("--select", multiple=True, help="Also run these rules (name, code, prefix or group).")
@click.option("--ignore", multiple=True, help="Do not run these rules (name, code, prefix or group).")
@click.option(
    "--assume-in-transaction/--no-assume-in-transaction",
    default=None,
    help="Whether SQL files run inside a transaction (as most migration runners wrap them).",
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Configuration file to use.")
@click.option("--alembic-config", type=click.Path(dir_okay=False), help="Lint the versions of this Alembic project.")
@click.option(
    "--alembic-mode",
    type=click.Choice(["run", "static"]),
    default="run",
    show_default=True,
    help="run: import each revision and run its upgrade() offline in a worker process (runs the project's "
    "code); static: read op.* calls from the source, executing nothing.",
)
@click.option(
    "--alembic-timeout",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long one Alembic revision may run in the worker before it is an error.",
)
@click.option("--dsn", envvar="BGMIGRATE_DSN", metavar="DSN", help="Lint against this live database (read-only).")
@click.option(
    "--schema", "schema_path", type=click.Path(dir_okay=False), help="Lint against a snapshot from `bgmigrate inspect`."
)
@click.option("--diff", "diff_ref", metavar="REF", help="Lint only migrations added or changed since git REF.")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(0, 256),
    default=0,
    help="Processes that read and parse files, the main one included (0: one per core; 1: no helpers).",
)
@click.option("--color/--no-color", default=None, help="Colour the text report (default: on a terminal).")
def lint(
    paths: tuple[str, ...],
    fmt: str,
    output: str | None,
    fail_on: str | None,
    pg_version: int | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    assume_in_transaction: bool | None,
    config_path: str | None,
    alembic_config: str | None,
    alembic_mode: str,
    alembic_timeout: float,
    dsn: str | None,
    schema_path: str | None,
    diff_ref: str | None,
    no_cache: bool,
    jobs: int,
    color: bool | None,
) -> None:
    """Report blue-green-unsafe operations in migration files and folders.

    Exit status: 0 clean, 1 findings at or above --fail-on, 2 input or usage errors.
    """
    if not paths and not alembic_config:
        fail("no paths given (try `bgmigrate lint migrations/`)")
    request = LintRequest(
        paths=paths,
        config_path=config_path,
        alembic_config=alembic_config,
        alembic_mode=alembic_mode,
        alembic_timeout=alembic_timeout,
        diff_ref=diff_ref,
        use_cache=not no_cache,
        jobs=jobs,
        dsn=explicit_base(dsn, schema_path),
        schema_path=schema_path,
        overrides={
            "pg_version": pg_version,
            "select": select,
            "ignore": ignore,
            "assume_in_transaction": assume_in_transaction,
            "fail_on": fail_on,
        },
    )
    try:
        catalogue = load_catalogue()
        result, threshold = run_lint(request, catalogue, recipes=_recipes())
    except (ConfigError, SelectionError, CatalogueError) as exc:
        fail(str(exc))
    except Exception as exc:
        from bgmigrate.live.base import BaseSchemaError
        from bgmigrate.project.gitdiff import GitError

        if isinstance(exc, GitError):
            fail(f"--diff {diff_ref}: {exc}")
        if isinstance(exc, BaseSchemaError):
            fail(str(exc))
        raise
    _write(result, fmt, output, catalogue, color)
    for note in result.notes:  # on stderr: machine formats on stdout stay one document
        print(f"bgmigrate: note: {display(note)}", file=sys.stderr)  # file names may hold anything
    sys.exit(result.exit_code(Severity.parse(fail_on) if fail_on else threshold))


def _recipes() -> RecipeSource | None:
    """The planner's fix texts, when the ``bgmigrate`` group handed them in (this module may not import plan)."""
    handed = click.get_current_context().find_root().obj
    factory = getattr(handed, "recipes", None)
    return factory() if factory is not None else None


def _write(result: LintResult, fmt: str, output: str | None, catalogue: Catalogue, color: bool | None) -> None:
    from bgmigrate import __version__

    if output:
        with open(output, "w", encoding="utf-8") as handle:
            render(result, fmt, handle, catalogue=catalogue, color=False, tool_version=__version__)
        if fmt != "text":
            # Still tell a person in the terminal what happened.
            render(result, "text", sys.stdout, catalogue=catalogue, color=color, tool_version=__version__)
        return
    render(result, fmt, sys.stdout, catalogue=catalogue, color=color, tool_version=__version__)
