"""Rename table: rename it, and leave an updatable view under the old name until contract.

The rename and the view commit together, so no query ever finds neither name. The new version
uses the real table under its new name from expand on; the old version keeps using the old
name, now a simple ``SELECT *`` view that PostgreSQL updates through automatically (SELECT,
INSERT — the table's defaults apply —, UPDATE, DELETE, RETURNING, ON CONFLICT). Contract drops
the view. See docs/planning.md for why this direction and not a view for the new name.
"""

from __future__ import annotations

from bgmigrate.model import operations as ops
from bgmigrate.model.locks import ACCESS_EXCLUSIVE
from bgmigrate.plan.draft import CONTRACT, EXPAND, Draft, Item, Rewrite, suppressed
from bgmigrate.plan.phases import Check
from bgmigrate.plan.sqlgen import q, step
from bgmigrate.plan.suppress import ignore
from bgmigrate.sql.names import Name

_RETIRED = "contract: the old app version, the view's only user, is retired"


def _view_follows(draft: Draft, item: Item) -> bool:
    """The migration itself already leaves a view under the old name."""
    old = item.op.table
    return old is not None and any(
        isinstance(i.op, ops.CreateObject) and i.op.kind == "view" and i.op.name.key == old.key
        for i in draft.items[item.index + 1 :]
    )


def rename_table(item: Item) -> Rewrite:
    op = item.op
    assert isinstance(op, ops.RenameTable)
    old, new = op.target, Name(op.new_name, op.target.schema)
    view = f"CREATE VIEW {old.sql()} AS SELECT * FROM {new.sql()}"
    expand = step(
        f"rename {old} to {op.new_name} and leave an updatable view under the old name (one transaction)",
        f"{op.stmt.text};\n{view}", table=old, lock=ACCESS_EXCLUSIVE, line=op.stmt.line,
        rollback=f"DROP VIEW IF EXISTS {old.sql()};\nALTER TABLE {new.sql()} RENAME TO {q(old.name)}",
    )  # fmt: skip
    drop = step(f"drop the compatibility view {old}", ignore(("drop-object",), _RETIRED) + f"DROP VIEW {old.sql()}",
                table=old, lock=ACCESS_EXCLUSIVE, line=op.stmt.line)  # fmt: skip
    notes = (
        (EXPAND, f"Deploy the new version, which uses {new.sql()}. The old version keeps using {old.sql()}, now a "
                 "view: reads and writes pass through it, but TRUNCATE, COPY … FROM and ALTER TABLE on the old "
                 "name do not. If the app connects as another role than this migration, grant that role on the "
                 "view what it had on the table."),
        (CONTRACT, f"Drop the view once no running version uses {old.sql()}."),
    )  # fmt: skip
    checks = (
        (EXPAND, Check("table_exists", table=str(new), description=f"{new} exists")),
        (CONTRACT, Check("table_absent", table=str(old), description=f"nothing is left under the old name {old}")),
    )
    preconditions = (
        Check("table_exists", table=str(old), description=f"{old} exists"),
        Check("table_absent", table=str(new), description=f"{new} does not exist yet"),
    )
    assumption = (
        f"the app's database role (if not the migration's) is granted on view {old} what it has on the table",
    )
    return Rewrite(expand=(expand,), contract=(drop,), checks=checks, preconditions=preconditions, notes=notes,
                   assumptions=assumption, recipe="rename table")  # fmt: skip


def rename_tables(draft: Draft) -> Draft:
    """Pass: RENAME of an existing table → rename + updatable view under the old name; drop the view at contract."""
    for item in list(draft.pending(ops.RenameTable)):
        if (
            not item.facts.is_new(item.op.table)
            and not _view_follows(draft, item)
            and not suppressed(item, "rename-table")
        ):
            draft = draft.place(item, rename_table(item))
    return draft
