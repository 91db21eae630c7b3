"""The Alembic front-end: revision scripts run offline, each op.* call becomes located SQL."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bgmigrate.model.migration import Migration
from bgmigrate.project.alembic_offline import AlembicInputError, is_alembic_revision, load_alembic
from bgmigrate.sql.statements import Statement

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VERSIONS = FIXTURES / "alembic" / "versions"
BROKEN = FIXTURES / "alembic_broken"

ROOT = VERSIONS / "1a0c5e2b7d01_create_users_and_accounts.py"
ORDERS = VERSIONS / "2b7e9f3c4a12_add_orders.py"
USERS_BRANCH = VERSIONS / "3c1d4e5f6a23_rework_users.py"
ORDERS_BRANCH = VERSIONS / "3d8a2b6c9e34_order_indexes_and_backfill.py"
MERGE = VERSIONS / "4e5f6a7b8c45_merge_users_and_orders.py"
DROP_LEGACY = VERSIONS / "5f0b1c2d3e56_drop_legacy_tables.py"


def at_line(migration: Migration, line: int) -> list[Statement]:
    return [s for s in migration.statements if s.line == line]


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


# --- every op kind, with its SQL and its line -----------------------------------------------------

OP_CASES = [
    (ROOT, 22, "op.create_table", "CREATE TABLE users ("),
    (ROOT, 28, "op.create_table", "FOREIGN KEY(owner_id) REFERENCES users (id)"),
    (ROOT, 28, "op.create_table", "CREATE INDEX ix_accounts_owner_id ON accounts (owner_id)"),
    (ROOT, 34, "op.create_index", "CREATE UNIQUE INDEX ix_users_email ON users (email)"),
    (ORDERS, 24, "op.create_table", "total NUMERIC(12, 2) NOT NULL"),
    (ORDERS, 32, "op.add_column", "ALTER TABLE users ADD COLUMN display_name TEXT DEFAULT '' NOT NULL"),
    (
        ORDERS,
        33,
        "op.create_foreign_key",
        "ALTER TABLE orders ADD CONSTRAINT fk_orders_account_id FOREIGN KEY(account_id) "
        "REFERENCES accounts (id) ON DELETE CASCADE",
    ),
    (
        ORDERS,
        36,
        "op.create_check_constraint",
        "ALTER TABLE orders ADD CONSTRAINT ck_orders_total_positive CHECK (total >= 0)",
    ),
    (
        ORDERS,
        37,
        "op.create_unique_constraint",
        "ALTER TABLE accounts ADD CONSTRAINT uq_accounts_owner_name UNIQUE (owner_id, name)",
    ),
    (ORDERS, 39, "op.create_index", "CREATE INDEX CONCURRENTLY ix_orders_account_id ON orders (account_id)"),
    (USERS_BRANCH, 22, "op.alter_column", "ALTER TABLE users ALTER COLUMN display_name DROP NOT NULL"),
    (USERS_BRANCH, 23, "op.alter_column", "ALTER TABLE users ALTER COLUMN email TYPE TEXT"),
    (USERS_BRANCH, 24, "op.alter_column", "ALTER TABLE users RENAME display_name TO full_name"),
    (USERS_BRANCH, 25, "op.alter_column", "ALTER TABLE accounts ALTER COLUMN name SET DEFAULT 'main'"),
    (USERS_BRANCH, 27, "op.drop_column", "ALTER TABLE accounts DROP COLUMN legacy_code"),
    (USERS_BRANCH, 28, "op.rename_table", "ALTER TABLE accounts RENAME TO billing_accounts"),
    (ORDERS_BRANCH, 25, "op.create_index", "CREATE INDEX CONCURRENTLY ix_orders_status ON orders (status)"),
    (ORDERS_BRANCH, 31, "op.drop_index", "DROP INDEX CONCURRENTLY ix_orders_account_id"),
    (ORDERS_BRANCH, 34, "op.execute", "UPDATE orders SET status = 'paid' WHERE status = 'settled'"),
    (ORDERS_BRANCH, 36, "op.execute", "UPDATE users SET full_name = email"),
    (ORDERS_BRANCH, 39, "op.execute", "DELETE FROM orders WHERE total < 0"),
    (ORDERS_BRANCH, 40, "op.execute", "UPDATE orders SET status='open' WHERE orders.status = 'pending'"),
    (ORDERS_BRANCH, 41, "op.execute", "UPDATE orders SET total = 0 WHERE total IS NULL"),
    (MERGE, 24, "op.add_column", "ALTER TABLE orders ADD COLUMN shipped_at TIMESTAMP WITH TIME ZONE"),
    (MERGE, 25, "op.alter_column", "ALTER TABLE orders ALTER COLUMN status TYPE VARCHAR(32)"),
    (MERGE, 26, "op.create_index", "CREATE INDEX ix_orders_shipped_at ON orders (shipped_at)"),
    (MERGE, 27, "op.drop_constraint", "ALTER TABLE orders DROP CONSTRAINT ck_orders_total_positive"),
    (
        MERGE,
        28,
        "op.create_check_constraint",
        "ALTER TABLE orders ADD CONSTRAINT ck_orders_total_non_negative CHECK (total >= 0)",
    ),
    (DROP_LEGACY, 23, "op.drop_index", "DROP INDEX ix_legacy_carts_user_id"),
    (DROP_LEGACY, 24, "op.drop_table", "DROP TABLE legacy_carts"),
    (DROP_LEGACY, 25, "op.drop_table", "DROP TABLE legacy_wishlists"),
]


@pytest.fixture(scope="module")
def loaded() -> dict[Path, Migration]:
    return {path: load_alembic(path) for path in sorted(VERSIONS.glob("*.py"))}


@pytest.mark.parametrize(("path", "line", "origin", "sql"), OP_CASES, ids=lambda v: getattr(v, "stem", v))
def test_each_op_is_rendered_at_the_line_of_its_call(
    loaded: dict[Path, Migration], path: Path, line: int, origin: str, sql: str
) -> None:
    statements = at_line(loaded[path], line)
    assert any(sql in s.text and s.origin == origin for s in statements), [s.text for s in statements]


def test_fixture_revisions_capture_exactly_their_upgrade_ops(loaded: dict[Path, Migration]) -> None:
    counts = {path.name[:12]: len(m.statements) for path, m in loaded.items()}
    assert counts == {
        "1a0c5e2b7d01": 4,
        "2b7e9f3c4a12": 6,
        "3c1d4e5f6a23": 6,
        "3d8a2b6c9e34": 7,
        "4e5f6a7b8c45": 5,
        "5f0b1c2d3e56": 3,
    }
    # downgrade() is never run, and no transaction control leaks in from as_sql mode.
    texts = [s.text.upper() for m in loaded.values() for s in m.statements]
    assert not [t for t in texts if t in ("BEGIN", "COMMIT")]
    assert all(not m.notices for m in loaded.values())


def test_migration_metadata(loaded: dict[Path, Migration]) -> None:
    root, merge = loaded[ROOT], loaded[MERGE]
    assert (root.kind, root.implicit_transaction) == ("alembic", True)
    assert (root.revision, root.down_revisions) == ("1a0c5e2b7d01", ())
    assert loaded[ORDERS].down_revisions == ("1a0c5e2b7d01",)
    assert merge.down_revisions == ("3c1d4e5f6a23", "3d8a2b6c9e34")
    assert merge.text == MERGE.read_text(encoding="utf-8")
    assert merge.path == str(MERGE)


def test_a_multi_line_call_spans_its_lines(loaded: dict[Path, Migration]) -> None:
    create_index = at_line(loaded[ORDERS_BRANCH], 25)[0]
    assert (create_index.line, create_index.column, create_index.end_line, create_index.end_column) == (
        25,
        9,
        30,
        9,
    )


def test_sql_written_in_the_script_keeps_its_own_position(loaded: dict[Path, Migration]) -> None:
    migration = loaded[ORDERS_BRANCH]
    lines = migration.text.splitlines()
    first, second = at_line(migration, 34)[0], at_line(migration, 36)[0]
    assert lines[33][first.column - 1 :].startswith("UPDATE orders SET status")
    assert (first.end_line, first.end_column) == (34, 66)
    assert lines[35][second.column - 1 :].startswith("UPDATE users SET full_name")
    text_call = at_line(migration, 39)[0]
    assert lines[38][text_call.column - 1 :].startswith("DELETE FROM orders")


def test_autocommit_block_marks_its_statements(loaded: dict[Path, Migration]) -> None:
    migration = loaded[ORDERS_BRANCH]
    inside = {s.line for s in migration.statements if s.in_autocommit_block}
    assert inside == {25, 31}
    # The same CONCURRENTLY outside the block stays in the transaction (for concurrently-in-transaction).
    outside = at_line(loaded[ORDERS], 39)[0]
    assert "CONCURRENTLY" in outside.text and not outside.in_autocommit_block


def test_suppressions_attach_to_their_call(loaded: dict[Path, Migration]) -> None:
    drop = at_line(loaded[USERS_BRANCH], 27)[0]
    assert [(s.rules, s.line) for s in drop.suppressions] == [(("drop-column",), 26)]
    assert drop.suppressions[0].reason == "nothing has read accounts.legacy_code since 3.2"
    assert not at_line(loaded[USERS_BRANCH], 28)[0].suppressions

    trailing = at_line(loaded[ORDERS_BRANCH], 40)[0]
    assert [s.rules for s in trailing.suppressions] == [("unbatched-data-change",)]

    # A SQL comment inside op.execute's string suppresses that piece only, at its line in the script.
    first, second = at_line(loaded[ORDERS_BRANCH], 34)[0], at_line(loaded[ORDERS_BRANCH], 36)[0]
    assert not first.suppressions
    assert [(s.rules, s.line) for s in second.suppressions] == [(("unbatched-data-change",), 35)]


def test_a_suppression_above_batch_alter_table_covers_the_batch(loaded: dict[Path, Migration]) -> None:
    merge = loaded[MERGE]
    covered = {s.line for s in merge.statements if any("missing-lock-timeout" in x.rules for x in s.suppressions)}
    assert covered == {24, 25, 26}


def test_file_suppressions(loaded: dict[Path, Migration]) -> None:
    (suppression,) = loaded[DROP_LEGACY].file_suppressions
    assert (suppression.rules, suppression.line, suppression.file_level) == (("drop-table",), 8, True)
    assert all(not s.suppressions for s in loaded[DROP_LEGACY].statements)
    assert loaded[ROOT].file_suppressions == ()


def test_captured_statements_parse_as_postgresql(loaded: dict[Path, Migration]) -> None:
    sql_parser = pytest.importorskip("bgmigrate.parse.parser")
    for migration in loaded.values():
        for statement in migration.statements:
            assert sql_parser.parse_statement(statement), statement.text


# --- detection ---------------------------------------------------------------------------------


def test_is_alembic_revision() -> None:
    assert all(is_alembic_revision(p.read_text(encoding="utf-8")) for p in VERSIONS.glob("*.py"))
    assert is_alembic_revision((BROKEN / "syntax_error.py").read_text(encoding="utf-8"))
    assert not is_alembic_revision((FIXTURES / "alembic" / "shop" / "types.py").read_text(encoding="utf-8"))
    assert not is_alembic_revision("revision = 'x'\n")
    assert not is_alembic_revision("CREATE TABLE t (id int);")


def test_importing_the_module_does_not_import_alembic_or_sqlalchemy() -> None:
    code = "import sys, bgmigrate.project.alembic_offline; print(sorted({'alembic', 'sqlalchemy'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the script's environment ------------------------------------------------------------------


def test_scripts_import_their_project_and_leave_no_trace() -> None:
    path_before = list(sys.path)
    migration = load_alembic(ORDERS)  # imports shop.types from the directory holding alembic.ini
    assert at_line(migration, 24)
    assert sys.path == path_before
    assert not [name for name in sys.modules if name == "shop" or name.startswith("shop.")]
    assert not [name for name in sys.modules if name.startswith("_bgmigrate_revision_")]


def test_search_paths_are_importable(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (lib / "billing_schema").mkdir(parents=True)
    (lib / "billing_schema" / "__init__.py").write_text("INVOICES = 'invoices'\n", encoding="utf-8")
    script = write(
        tmp_path,
        "a1_drop_invoices.py",
        """\
        from alembic import op
        from billing_schema import INVOICES

        revision = "a1"
        down_revision = None


        def upgrade():
            op.drop_table(INVOICES)
        """,
    )
    migration = load_alembic(script, search_paths=[lib])
    assert [s.text for s in migration.statements] == ["DROP TABLE invoices"]
    assert not migration.notices
    assert "billing_schema" not in sys.modules


def test_the_script_cannot_print_or_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    script = write(
        tmp_path,
        "b2_noisy.py",
        """\
        import logging
        import warnings
        from alembic import op

        revision = "b2"
        down_revision = None
        print("importing")


        def upgrade():
            print("upgrading")
            warnings.warn("careful")
            op.drop_table("sessions")
        """,
    )
    assert [s.text for s in load_alembic(script).statements] == ["DROP TABLE sessions"]
    out, err = capsys.readouterr()
    assert (out, err) == ("", "")
    assert not [r for r in caplog.records if r.name.startswith("alembic")]


def test_loading_twice_gives_the_same_result_and_releases_the_op_proxy() -> None:
    first, second = load_alembic(MERGE), load_alembic(MERGE)
    assert first.statements == second.statements
    from alembic import op

    with pytest.raises(AttributeError):
        op.drop_table("orders")  # no proxy installed any more: nothing runs outside load_alembic


def test_ops_in_helper_functions_and_get_bind_dialect(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "c3_helpers.py",
        """\
        import sqlalchemy as sa
        from alembic import op

        revision = "c3"
        down_revision = "b2"


        def add_audit_columns(table):
            op.add_column(table, sa.Column("updated_at", sa.DateTime(timezone=True)))


        def upgrade():
            add_audit_columns("orders")
            if op.get_bind().dialect.name == "postgresql":
                op.execute("UPDATE orders SET note = 'a%b' WHERE note LIKE '%x%' AND slot = '10:30'")
            op.execute(sa.text("UPDATE orders SET status = :status").bindparams(status="open"))
            op.execute(sa.text("UPDATE orders SET status = :status"))
        """,
    )
    migration = load_alembic(script)
    assert [(s.line, s.text) for s in migration.statements] == [
        (9, "ALTER TABLE orders ADD COLUMN updated_at TIMESTAMP WITH TIME ZONE"),
        (15, "UPDATE orders SET note = 'a%b' WHERE note LIKE '%x%' AND slot = '10:30'"),
        (16, "UPDATE orders SET status = 'open'"),
        (17, "UPDATE orders SET status = :status"),  # no value: stays a parameter, not NULL
    ]


def test_connection_writes_are_recorded(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "d4_backfill.py",
        """\
        import sqlalchemy as sa
        from alembic import op

        revision = "d4"
        down_revision = None


        def upgrade():
            conn = op.get_bind()
            conn.execute(sa.text("UPDATE users SET active = :on"), {"on": True})
            op.drop_column("users", "legacy")
        """,
    )
    migration = load_alembic(script)
    assert [(s.line, s.origin, s.text) for s in migration.statements] == [
        (10, "connection.execute", "UPDATE users SET active = true"),
        (11, "op.drop_column", "ALTER TABLE users DROP COLUMN legacy"),
    ]
    assert not migration.notices


def test_an_op_that_cannot_render_offline_is_a_notice_and_the_rest_goes_on(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "e5_rebuild.py",
        """\
        import sqlalchemy as sa
        from alembic import op

        revision = "e5"
        down_revision = None


        def upgrade():
            with op.batch_alter_table("orders", recreate="always") as batch_op:
                batch_op.add_column(sa.Column("note", sa.Text()))
            op.drop_table("carts")
        """,
    )
    migration = load_alembic(script)
    assert [s.text for s in migration.statements] == ["DROP TABLE carts"]
    (notice,) = migration.notices
    assert (notice.rule, notice.line, notice.severity) == ("unparsed-statement", 9, "warning")
    assert "op.batch_alter_table()" in notice.message


# --- broken scripts ----------------------------------------------------------------------------


def test_syntax_error_is_an_input_error_with_its_line() -> None:
    with pytest.raises(AlembicInputError) as caught:
        load_alembic(BROKEN / "syntax_error.py")
    assert caught.value.line == 15
    assert caught.value.path == BROKEN / "syntax_error.py"
    assert "never closed" in caught.value.message
    assert str(caught.value).startswith(f"{BROKEN / 'syntax_error.py'}:15: ")


def test_a_file_without_upgrade_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(AlembicInputError, match="no upgrade"):
        load_alembic(write(tmp_path, "helpers.py", "revision = 'x'\n"))


def test_missing_package_falls_back_to_static_analysis() -> None:
    migration = load_alembic(BROKEN / "missing_package.py")
    assert (migration.revision, migration.down_revisions) == ("7b2c3d4e5f78", ("5f0b1c2d3e56",))
    assert [(s.line, s.origin, s.text, s.in_autocommit_block) for s in migration.statements] == [
        (17, "op.add_column", "ALTER TABLE orders ADD COLUMN fulfilment OrderStatus", False),
        (19, "op.drop_column", "ALTER TABLE orders DROP COLUMN legacy_state", False),
        (20, "op.alter_column", "ALTER TABLE orders ALTER COLUMN fulfilment SET NOT NULL", False),
        (20, "op.alter_column", "ALTER TABLE orders ALTER COLUMN fulfilment SET DEFAULT 'new'", False),
        (
            22,
            "op.create_index",
            "CREATE INDEX CONCURRENTLY ix_orders_fulfilment ON orders (fulfilment)",
            True,
        ),
        (23, "op.execute", "UPDATE orders SET fulfilment = 'new' WHERE fulfilment IS NULL", False),
    ]
    first, skipped = migration.notices
    assert (first.rule, first.line, first.severity) == ("unparsed-statement", 10, "warning")
    assert first.message == (
        "could not run upgrade() (ModuleNotFoundError: No module named 'myproject'); "
        "analysed its op.* calls statically, analysis is partial"
    )
    # op.add_column(Shipment.__tablename__, ...) cannot be evaluated without the package: said, not dropped.
    assert (skipped.line, skipped.severity) == (18, "warning")
    assert "statically" in skipped.message


def test_import_time_error_other_than_import_falls_back_too(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "f6_settings.py",
        """\
        from alembic import op

        revision = "f6"
        down_revision = None
        SETTINGS = load_settings()


        def upgrade():
            op.drop_table("carts")
        """,
    )
    migration = load_alembic(script)
    assert [s.text for s in migration.statements] == ["DROP TABLE carts"]
    assert migration.notices[0].line == 5
    assert "NameError" in migration.notices[0].message


def test_live_database_needed_midway_keeps_what_came_before() -> None:
    migration = load_alembic(BROKEN / "live_database.py")
    assert [(s.line, s.origin, s.text) for s in migration.statements] == [
        (15, "op.add_column", "ALTER TABLE users ADD COLUMN first_name TEXT"),
        (17, "connection.execute", "UPDATE users SET first_name = split_part(full_name, ' ', 1)"),
        (18, "connection.execute", "SELECT id, full_name FROM users WHERE first_name IS NULL"),
    ]
    (notice,) = migration.notices
    assert (notice.rule, notice.line, notice.severity) == ("unparsed-statement", 18, "warning")
    assert notice.message == (
        "upgrade() needs a live database from here (op.get_bind()); the rest of the migration was not analysed"
    )


def test_inspecting_the_database_also_needs_a_live_database(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "g7_inspect.py",
        """\
        import sqlalchemy as sa
        from alembic import op

        revision = "g7"
        down_revision = None


        def upgrade():
            op.drop_table("carts")
            if "orders" in sa.inspect(op.get_bind()).get_table_names():
                op.drop_table("orders")
        """,
    )
    migration = load_alembic(script)
    assert [s.text for s in migration.statements] == ["DROP TABLE carts"]
    assert (migration.notices[0].line, migration.notices[0].message.startswith("upgrade() needs a live")) == (
        10,
        True,
    )


def test_other_errors_midway_say_what_happened(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "h8_typo.py",
        """\
        from alembic import op

        revision = "h8"
        down_revision = None


        def upgrade():
            op.drop_table("carts")
            op.drop_colum("orders", "note")
            op.drop_table("orders")
        """,
    )
    migration = load_alembic(script)
    assert [s.text for s in migration.statements] == ["DROP TABLE carts"]
    (notice,) = migration.notices
    assert notice.line == 9
    assert "AttributeError" in notice.message and "not analysed" in notice.message


def test_scripts_asking_alembic_context_take_the_online_path(tmp_path: Path) -> None:
    script = write(
        tmp_path,
        "i9_context.py",
        """\
        import sqlalchemy as sa
        from alembic import context, op

        revision = "i9"
        down_revision = None


        def upgrade():
            if not context.is_offline_mode():
                op.execute("UPDATE orders SET status = 'open' WHERE status IS NULL")
            context.get_bind().execute(sa.text("DELETE FROM carts WHERE expired"))
        """,
    )
    migration = load_alembic(script)
    assert [(s.line, s.text) for s in migration.statements] == [
        (10, "UPDATE orders SET status = 'open' WHERE status IS NULL"),
        (11, "DELETE FROM carts WHERE expired"),
    ]
    assert not migration.notices
