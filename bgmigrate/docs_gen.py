"""Markdown pages generated from the catalogue: docs/rules/ and ``bgmigrate explain``."""

from __future__ import annotations

from pathlib import Path

from bgmigrate.lint.catalogue import Catalogue, Example, RuleEntry


def rule_markdown(entry: RuleEntry) -> str:
    """One rule's page."""
    state = "on by default" if entry.enabled else "off by default (enable with `select`)"
    parts = [
        f"# {entry.name} ({entry.code})",
        "",
        f"**{entry.summary}**",
        "",
        f"Group: {entry.group} · default severity: {entry.severity.label} · {state}",
        "",
        "## Why it is unsafe",
        "",
        entry.why,
        "",
        "## Safe recipe",
        "",
        entry.recipe,
    ]
    if entry.pg_versions:
        parts += ["", "## PostgreSQL versions", "", entry.pg_versions]
    for title, examples in (("Bad", entry.bad), ("Good", entry.good)):
        for example in examples:
            parts += ["", f"## {title}" + (f": {example.note}" if example.note else ""), ""]
            if example.setup.strip():
                parts += ["Earlier migration:", "", "```sql", example.setup.strip(), "```", ""]
            parts += _live_context(example)
            lang = "python" if example.format == "alembic" else "sql"
            parts += [f"```{lang}", example.sql.strip(), "```"]
    parts += ["", f"Suppress with a reason: `-- bgmigrate: ignore[{entry.name}] <why it is safe here>`", ""]
    return "\n".join(parts)


def _live_context(example: Example) -> list[str]:
    """The live database an example is linted against, and what trace saw, as bullet lists."""
    parts: list[str] = []
    if example.schema:
        from bgmigrate.live.snapshot import describe_tables, loads

        parts += ["Live database:", "", *(f"- {line}" for line in describe_tables(loads(example.schema))), ""]
    if example.observed:
        from bgmigrate.trace.trace import describe_observed

        parts += ["What `bgmigrate trace` saw:", "", *(f"- {line}" for line in describe_observed(example.observed)), ""]
    return parts


def index_markdown(catalogue: Catalogue) -> str:
    """The rules index page."""
    lines = [
        "# Rules",
        "",
        "Generated from `rules/` by `python -m bgmigrate.docs_gen`; do not edit by hand.",
        "",
        "| code | rule | group | severity | default | summary |",
        "|---|---|---|---|---|---|",
    ]
    for e in catalogue:
        on = "on" if e.enabled else "off"
        lines.append(f"| {e.code} | [{e.name}]({e.name}.md) | {e.group} | {e.severity.label} | {on} | {e.summary} |")
    return "\n".join(lines) + "\n"


def generate(catalogue: Catalogue, folder: Path) -> dict[Path, str]:
    """Every page, by path."""
    pages = {folder / "README.md": index_markdown(catalogue)}
    for entry in catalogue:
        pages[folder / f"{entry.name}.md"] = rule_markdown(entry)
    return pages


def main() -> None:
    """Write docs/rules/ from the catalogue."""
    from bgmigrate.lint.catalogue import load_catalogue

    folder = Path(__file__).resolve().parents[1] / "docs" / "rules"
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.md"):
        stale.unlink()
    for path, text in generate(load_catalogue(), folder).items():
        path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
