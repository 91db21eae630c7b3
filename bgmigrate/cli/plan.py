"""``bgmigrate plan``: rewrite an unsafe migration into expand / migrate / contract phases."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from bgmigrate.cli.errors import explicit_base, fail

if TYPE_CHECKING:
    from bgmigrate.model.migration import Migration
    from bgmigrate.model.schema import Schema


@click.command()
@click.argument("migration", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder to write the plan to.")
@click.option("--schema", "snapshot", type=click.Path(dir_okay=False), help="Plan against this schema snapshot.")
@click.option(
    "--dsn", envvar="BGMIGRATE_DSN", help="Plan against this database's schema (read only; or BGMIGRATE_DSN)."
)
@click.option("--id", "plan_id", help="Plan id (default: the migration file's stem).")
@click.option(
    "--backfill", multiple=True, metavar="COL=SQL_EXPR", help="Value for rows of a column that becomes NOT NULL."
)
@click.option("--batch-key", metavar="COLUMN", help="Key to batch backfills by (default: the primary key).")
@click.option("--batch-size", type=click.IntRange(1), default=1000, show_default=True, help="Rows per backfill batch.")
@click.option("--format", "fmt", type=click.Choice(["sql", "alembic"]), default="sql", show_default=True,
              help="Write the phases as SQL files or as chained Alembic revisions.")  # fmt: skip
@click.option(
    "--down-revision", help="Alembic format: the revision the first phase chains onto (default: the source's)."
)
@click.option(
    "--pg-version", type=click.IntRange(9, 99), help="PostgreSQL major version (default: the database's, else 15)."
)
def plan(
    migration: str,
    out_dir: str,
    snapshot: str | None,
    dsn: str | None,
    plan_id: str | None,
    backfill: tuple[str, ...],
    batch_key: str | None,
    batch_size: int,
    fmt: str,
    down_revision: str | None,
    pg_version: int | None,
) -> None:
    """Write MIGRATION as a phased plan: plan.json, one file per phase, and PLAN.md.

    Exit status: 0 written, 2 when no safe plan can be made (the message says what to give).
    """
    from bgmigrate.plan.request import PlanError

    dsn = explicit_base(dsn, snapshot)
    try:
        written = _run(Path(migration), Path(out_dir), snapshot, dsn, plan_id, backfill, batch_key, batch_size, fmt,
                       down_revision, pg_version)  # fmt: skip
    except PlanError as exc:
        from bgmigrate.dsn import redact_text

        fail(redact_text(str(exc), dsn))
    click.echo(written)


def _run(
    path: Path, out: Path, snapshot: str | None, dsn: str | None, plan_id: str | None, backfill: tuple[str, ...],
    batch_key: str | None, batch_size: int, fmt: str, down_revision: str | None, pg_version: int | None,
) -> str:  # fmt: skip
    from bgmigrate.lint.engine import parse_migration
    from bgmigrate.plan import sources
    from bgmigrate.plan.passes import plan_operations
    from bgmigrate.plan.request import PlanError, PlanRequest, parse_backfill

    migration = sources.read(path)
    operations, errors = parse_migration(migration)
    if errors:
        raise PlanError(str(errors[0]))
    live = bool(dsn or snapshot)
    earlier = [] if live else sources.earlier_migrations(path, migration)
    knowledge = sources.live_knowledge(dsn, snapshot) if live else sources.learn(earlier)
    request = PlanRequest(
        id=plan_id or path.stem,
        source=migration.path,
        backfill=tuple(parse_backfill(b) for b in backfill),
        batch_key=batch_key,
        batch_size=batch_size,
        pg_version=pg_version or knowledge.schema.server_version or 15,
        source_revision=down_revision or (",".join(migration.down_revisions) or None),
    )
    result = plan_operations(operations, knowledge, request, live=live)
    summary = _lint_summary(
        result, earlier, knowledge.schema if live else None, migration
    )  # before writing: it may refuse
    return _write(result, out, fmt) + summary


def _lint_summary(result: object, earlier: list[Migration], schema: Schema | None, migration: Migration) -> str:
    """What lint still says about the phases (a passed-through hazard, say), in a few lines.

    Raises ``PlanError`` when a phase would fail to run at all.
    """
    from bgmigrate.lint.catalogue import load_catalogue
    from bgmigrate.plan.invariants import PhaseCheckError, lint_phases, refuse_lint_errors, refuse_unreadable
    from bgmigrate.plan.phases import Plan
    from bgmigrate.plan.request import PlanError

    assert isinstance(result, Plan)
    catalogue = load_catalogue()
    try:
        findings = lint_phases(result, earlier, catalogue, schema=schema)
    except PhaseCheckError as exc:
        # The planner's own guards should have refused already: a plan that cannot run is never written.
        raise PlanError(
            f"the plan failed its own check, nothing written (a bgmigrate bug, please report it): {exc}"
        ) from None
    from bgmigrate.safetext import display

    refuse_lint_errors(findings, catalogue)
    refuse_unreadable(findings, result, (st.text for st in migration.statements))
    if not findings:
        return "\nlint of the phases: clean"
    lines = [f"\nlint of the phases: {len(findings)} finding(s) left"]
    for f in findings[:10]:
        first = f.message.splitlines()[0][:100]
        lines.append(display(f"  {Path(f.path).name}:{f.line} {f.severity.label} {f.rule}: {first}"))
    return "\n".join(lines)


def _write(result: object, out: Path, fmt: str) -> str:
    from bgmigrate.plan.phases import Plan
    from bgmigrate.plan.render_alembic import render_alembic
    from bgmigrate.plan.render_md import render_md
    from bgmigrate.plan.render_sql import render_sql
    from bgmigrate.safetext import display

    assert isinstance(result, Plan)
    files = {"plan.json": result.to_json(), "PLAN.md": render_md(result)}
    files.update(render_alembic(result) if fmt == "alembic" else render_sql(result))
    out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    counts = ", ".join(f"{p.name} {len(p.steps)}" for p in result.phases)
    return display(f"wrote plan {result.id} to {out}: {counts} steps; see {out / 'PLAN.md'}")
