"""What ``inspect`` and ``trace`` show a person: rich text, plain when piped."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from bgmigrate.lint.catalogue import Catalogue
from bgmigrate.lint.findings import Finding
from bgmigrate.lint.rules.live import covered
from bgmigrate.model.schema import Schema, Table
from bgmigrate.model.table_size import TableSize
from bgmigrate.project.result import LintResult
from bgmigrate.report.text import make_console, plural
from bgmigrate.safetext import display
from bgmigrate.trace.trace import TracedStatement, TraceResult, strength

LARGEST = 20  # tables listed by inspect's text output

# ---- inspect --------------------------------------------------------------------------------


def _size(table: Table) -> str:
    if table.rows_estimate is None:
        return "never analysed"
    return TableSize("", table.rows_estimate, table.size_bytes).describe().removeprefix(": ")


def _unindexed_foreign_keys(schema: Schema) -> list[str]:
    found = []
    for table in schema.tables.values():
        for con in table.constraints.values():
            if con.kind == "foreign_key" and con.columns and not covered(schema, table.name, con.columns):
                found.append(f"{table.name}({', '.join(con.columns)}) → {con.references}")
    return sorted(found)


def render_inspect(schema: Schema, database: str, out: TextIO, color: bool | None = None) -> None:
    """A summary: counts, the largest tables, and what needs attention (invalid indexes, unindexed keys)."""
    console = make_console(out, color)
    counts = [
        plural(len(schema.tables), "table"),
        f"{len(schema.indexes)} {'index' if len(schema.indexes) == 1 else 'indexes'}",
        plural(len(schema.enums), "enum type"),
        plural(len(schema.objects.get("view", ())), "view"),
        plural(len(schema.objects.get("trigger", ())), "trigger"),
    ]
    version = f"PostgreSQL {schema.server_version}" if schema.server_version else "PostgreSQL"
    console.print(Text.assemble((database, "bold"), f"  {version}: ", ", ".join(counts)))
    tables = sorted(schema.tables.values(), key=lambda t: (-(t.size_bytes or 0), -(t.rows_estimate or 0), t.name.key))
    if tables:
        grid = RichTable(title=f"Largest tables (of {len(tables)})", title_justify="left", box=None, pad_edge=False)
        for heading in ("table", "estimated size", "columns", "indexes"):
            grid.add_column(heading, justify="left" if heading in ("table", "estimated size") else "right")
        for table in tables[:LARGEST]:
            grid.add_row(
                Text(display(str(table.name))),
                _size(table),
                str(len(table.columns)),
                str(len(schema.indexes_on(table.name))),
            )
        console.print()
        console.print(grid)
    _print_attention(console, schema)


def _print_attention(console: Console, schema: Schema) -> None:
    invalid = sorted(str(i.table) + "." + i.name for i in schema.indexes.values() if not i.valid)
    unindexed = _unindexed_foreign_keys(schema)
    if invalid:
        console.print()
        console.print(
            Text("Invalid indexes (a failed CREATE INDEX CONCURRENTLY; drop and rebuild):", style="bold yellow")
        )
        for name in invalid:
            console.print(Text(f"  {display(name)}"))  # Text: a name is never read as markup
    if unindexed:
        console.print()
        console.print(Text("Foreign keys without an index on their columns:", style="bold yellow"))
        for line in unindexed[:LARGEST]:
            console.print(Text(f"  {display(line)}"))
        if len(unindexed) > LARGEST:
            console.print(Text(f"  … and {len(unindexed) - LARGEST} more", style="dim"))


# ---- trace ----------------------------------------------------------------------------------

WARNING = (
    "The statements ran for real inside one transaction that was then rolled back: "
    "trace a staging or throwaway copy, never production."
)


def _first_line(sql: str, width: int = 60) -> str:
    line = " ".join(sql.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _locks_text(t: TracedStatement) -> Text:
    text = Text()
    for i, lock in enumerate(sorted(t.locks, key=lambda lk: (-strength(lk.mode), lk.relation.key))):
        if i:
            text.append("\n")
        style = "bold red" if strength(lock.mode) >= strength("ShareLock") else ""
        text.append(lock.mode, style=style)
        text.append(f" {lock.relation.relation}" + (" (index)" if lock.relation.kind == "index" else ""))
    return text


def _outcome(t: TracedStatement) -> Text:
    if t.not_traced:
        reason = t.not_traced if t.not_traced.startswith("not run") else f"not traced: {t.not_traced}"
        return Text(reason, style="yellow")
    if t.error:
        return Text(f"error: {t.error}", style="bold red")
    return Text(f"{t.duration_ms:.1f} ms" if t.duration_ms is not None else "")


def render_trace(
    result: TraceResult,
    findings: list[Finding],
    source: str,
    catalogue: Catalogue,
    out: TextIO,
    color: bool | None = None,
) -> None:
    """Per statement: locks newly taken, relations rewritten, time; then findings and the rollback."""
    console = make_console(out, color)
    version = f" (PostgreSQL {result.server_version})" if result.server_version else ""
    console.print(Text.assemble("Traced ", (result.path, "bold"), " on ", (result.database, "bold"), version))
    console.print(Text(WARNING, style="yellow"))
    grid = RichTable(box=None, pad_edge=False, show_lines=False)
    for heading in ("line", "statement", "locks taken", "rewrites", "result"):
        grid.add_column(heading, justify="right" if heading == "line" else "left", overflow="fold")
    for t in result.statements:
        rewrites = "\n".join(f"{r.relation}" + (" (index)" if r.kind == "index" else "") for r in t.rewrites)
        grid.add_row(str(t.line), _first_line(t.sql), _locks_text(t), Text(rewrites, style="bold red"), _outcome(t))
    console.print()
    console.print(grid)
    console.print()
    if findings:
        from bgmigrate.report import text

        text.render(
            LintResult(findings=findings, files=1, sources={result.path: source}), out, catalogue=catalogue, color=color
        )
    if result.interrupted:
        console.print(Text("Interrupted.", style="bold yellow"))
    if result.rolled_back:
        console.print(Text("Rolled back: the database is as it was before the trace.", style="bold green"))
    else:
        ended = f"{result.transaction_ended}. " if result.transaction_ended else ""
        console.print(Text(f"NOT verified rolled back. {ended}Changes MAY HAVE BEEN COMMITTED.", style="bold red"))
