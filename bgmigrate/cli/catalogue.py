"""``bgmigrate rules`` and ``bgmigrate explain``: the rule catalogue for people and machines."""

from __future__ import annotations

import json
import sys

import click

from bgmigrate.cli.errors import fail
from bgmigrate.lint.catalogue import CatalogueError, RuleEntry, load_catalogue


def _entry_dict(entry: RuleEntry) -> dict[str, object]:
    return {
        "code": entry.code,
        "name": entry.name,
        "severity": entry.severity.label,
        "group": entry.group,
        "enabled": entry.enabled,
        "summary": entry.summary,
    }


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def rules(fmt: str) -> None:
    """List every rule: code, name, default severity, group, whether it runs by default."""
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        fail(str(exc))
    if fmt == "json":
        json.dump({"rules": [_entry_dict(e) for e in catalogue]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("code", "name", "severity", "group", "default", "summary"):
        table.add_column(column, overflow="fold" if column == "summary" else "ellipsis", no_wrap=column != "summary")
    for entry in catalogue:
        table.add_row(
            entry.code, entry.name, entry.severity.label, entry.group, "on" if entry.enabled else "off", entry.summary
        )
    console = Console()
    if not console.is_terminal:
        # Piped into a file or a pager: give the summaries room instead of rich's 80 columns.
        console = Console(width=160)
    console.print(table)


@click.command()
@click.argument("name")
def explain(name: str) -> None:
    """Explain one rule (by name, code or alias): why it matters and the safe recipe."""
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        fail(str(exc))
    entry = catalogue.get(name)
    if entry is None:
        fail(f"no rule named {name!r} (see `bgmigrate rules`)")
    from rich.console import Console
    from rich.markdown import Markdown

    from bgmigrate.docs_gen import rule_markdown

    Console().print(Markdown(rule_markdown(entry)))
