"""Lint and its text report stay linear in the size of one file (issue 11 B1, B2).

Timing belongs in tests/bench/bench_large_file.py; these tests check the structure that makes
it linear: no per-operation copies of the earlier operations, no whole-file highlighting per
finding, with the per-operation facts rules see unchanged.
"""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Sequence

import pytest

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.lint.engine import analyse, parse_migration
from bgmigrate.lint.findings import Finding, Severity
from bgmigrate.lint.rules.api import OpContext
from bgmigrate.lint.rules.history import NewTables, Prefix
from bgmigrate.lint.settings import LintSettings
from bgmigrate.model import operations as ops
from bgmigrate.model.schema import Schema
from bgmigrate.parse.source import load_sql
from bgmigrate.project.result import LintResult
from bgmigrate.report import text as text_report
from bgmigrate.report.text import MAX_FRAME_LINES, render
from bgmigrate.sql.names import Name


def _contexts(sql: str) -> list[tuple[ops.Operation, OpContext]]:
    """Every (operation, context) pair the linter hands to migration rules."""
    import bgmigrate.lint.rules.api as api

    captured: list[Sequence[tuple[ops.Operation, OpContext]]] = []
    migration = load_sql("m.sql", sql)
    operations, _ = parse_migration(migration)

    def probe_rule(seen: Sequence[tuple[ops.Operation, OpContext]]) -> list[api.Hit]:
        captured.append(seen)
        return []

    probe = api.RegisteredRule("probe-test", on_migration=probe_rule)
    api.REGISTRY["probe-test"] = probe
    try:
        analyse(migration, operations, Schema(), LintSettings())
    finally:
        del api.REGISTRY["probe-test"]
    return list(captured[0])


def _peak_bytes(statements: int) -> int:
    migration = load_sql("m.sql", ";\n".join(f"SET x.v{i} = 1" for i in range(statements)))
    operations, _ = parse_migration(migration)
    tracemalloc.start()
    try:
        analyse(migration, operations, Schema(), LintSettings())
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_analysis_memory_grows_linearly_with_statements() -> None:
    # Four times the statements: about four times the memory, not sixteen (a copy of every
    # earlier operation per operation was quadratic: 1.6 GB for 20,000 INSERTs).
    small, large = _peak_bytes(500), _peak_bytes(2000)
    assert large < 6 * small, (small, large)


def test_each_context_sees_exactly_the_operations_before_it() -> None:
    seen = _contexts("CREATE TABLE a (id int);\nALTER TABLE a ADD COLUMN b int;\nDROP TABLE a;\nSELECT 1;")
    for i, (op, ctx) in enumerate(seen):
        assert list(ctx.earlier) == [o for o, _ in seen[:i]]
        assert list(reversed(ctx.earlier)) == [o for o, _ in seen[:i]][::-1]
        assert len(ctx.earlier) == i
        assert op not in list(ctx.earlier)
    assert list(seen[-1][1].earlier[1:]) == [seen[1][0], seen[2][0]]
    assert seen[-1][1].earlier[-1] is seen[2][0]


def test_new_tables_are_the_ones_created_before_each_operation() -> None:
    seen = _contexts(
        "CREATE TABLE a (id int);\nALTER TABLE a RENAME TO b;\nDROP TABLE a;\nCREATE TABLE c (id int);\nSELECT 1;"
    )
    moments = [set(ctx.new_tables) for _, ctx in seen]
    assert moments == [
        set(),
        {("public", "a")},
        {("public", "a"), ("public", "b")},
        {("public", "b")},
        {("public", "b"), ("public", "c")},
    ]
    assert [("public", "a") in ctx.new_tables for _, ctx in seen] == [False, True, True, False, False]
    assert seen[1][1].is_new_table(seen[0][0].table)


def test_a_prefix_view_is_bounded_and_does_not_grow() -> None:
    items: list[ops.Operation] = []
    view = Prefix(items, 0)
    items.append(ops.Other(load_sql("m.sql", "SELECT 1").statements[0]))
    assert len(view) == 0 and list(view) == [] and list(view[:]) == []
    try:
        view[0]
    except IndexError:
        pass
    else:
        raise AssertionError("a view must not show items added after it was taken")


def test_a_new_tables_view_does_not_see_later_changes() -> None:
    history = NewTables()
    before = history.now()
    history.track(ops.CreateTable(load_sql("m.sql", "SELECT 1").statements[0], target=_name("t")))
    after = history.now()
    assert ("public", "t") not in before and len(before) == 0
    assert ("public", "t") in after and set(after) == {("public", "t")}


def _name(table: str) -> Name:
    return Name(table, "public")


# ---- the text report ------------------------------------------------------------------------


def _finding(line: int, end_line: int | None = None) -> Finding:
    return Finding(
        rule="drop-table", code="BG001", severity=Severity.ERROR, path="big.sql", line=line, column=1,
        end_line=end_line or line, end_column=5, message="Dropping a table.", fix="",
    )  # fmt: skip


def test_the_report_highlights_only_the_excerpt_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    highlighted: list[str] = []
    import rich.syntax

    real = rich.syntax.Syntax

    def recording(code: str, *args: object, **kwargs: object) -> object:
        highlighted.append(code)
        return real(code, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rich.syntax, "Syntax", recording)
    source = "\n" * 100_000 + "DROP TABLE orders;\n" + "SELECT 1;\n" * 1000
    findings = [_finding(100_001), _finding(100_002)]
    out = io.StringIO()
    # In colour: every frame is highlighted (plain frames that fit are drawn without rich).
    result = LintResult(findings=findings, sources={"big.sql": source}, files=1)
    render(result, out, catalogue=load_catalogue(), color=True)
    # Highlighting the whole file for each finding made 2,000 findings take minutes.
    assert len(highlighted) == 2
    assert all(code.count("\n") < MAX_FRAME_LINES for code in highlighted), [len(c) for c in highlighted]
    assert "DROP TABLE orders;" in highlighted[0]
    assert "100001" in out.getvalue().replace(" ", "")


def test_the_report_numbers_excerpt_lines_as_in_the_file() -> None:
    source = "".join(f"SELECT {i};\n" for i in range(1, 200)) + "DROP TABLE orders;\n" + "SELECT 0;\n"
    result = LintResult(findings=[_finding(200)], sources={"big.sql": source}, files=1)
    out = io.StringIO()
    render(result, out, catalogue=load_catalogue(), color=False)
    text = out.getvalue()
    assert "200 DROP TABLE orders;" in text.replace("│", "").replace("❱", "").replace("  ", " ")
    assert "199 SELECT 199;" in text.replace("│", "").replace("❱", "").replace("  ", " ")
    assert "SELECT 1;" not in text and "SELECT 198;" not in text


def test_a_long_frame_is_cut_and_says_how_much() -> None:
    source = "DROP TABLE orders\n" + "  -- x\n" * 40 + ";\n"
    result = LintResult(findings=[_finding(1, 42)], sources={"big.sql": source}, files=1)
    out = io.StringIO()
    render(result, out, catalogue=load_catalogue(), color=False)
    assert "more lines" in out.getvalue()


def test_added_columns_are_known_without_scanning_the_earlier_operations() -> None:
    from bgmigrate.lint.rules.compat_columns import added_in_migration

    seen = _contexts(
        "CREATE TABLE a (id int, x int);\n"
        "ALTER TABLE orders ADD COLUMN n int;\n"
        "ALTER TABLE orders RENAME COLUMN n TO m;\n"
        "ALTER TABLE orders RENAME COLUMN total TO sum;\n"
        "ALTER TABLE a RENAME TO b;\n"
        "ALTER TABLE b DROP COLUMN x;\n"
        "ALTER TABLE orders ADD COLUMN n int;\n"
        "SELECT 1;"
    )
    names = [Name(t, "public") for t in ("a", "b", "orders")]
    columns = ("id", "x", "n", "m", "total", "sum")
    for _, ctx in seen:
        assert isinstance(ctx.earlier, Prefix) and ctx.earlier.added_columns is not None
        for table in names:
            for column in columns:
                # The kept set answers exactly what a scan of the earlier operations answers.
                fast = added_in_migration(ctx.earlier, table, column)
                assert fast == added_in_migration(list(ctx.earlier), table, column), (table, column, len(ctx.earlier))
    last = seen[-1][1]
    assert added_in_migration(last.earlier, Name("orders", "public"), "m")
    assert added_in_migration(last.earlier, Name("b", "public"), "id")
    assert not added_in_migration(last.earlier, Name("b", "public"), "x")
    assert not added_in_migration(last.earlier, Name("orders", "public"), "sum")


def _rule_lines(sql: str, where: tuple[str, ...] = ()) -> int:
    """Lines of rule code (bgmigrate/lint/rules) executed to judge ``sql``: work, counted exactly.

    ``where``: count the lines of these files instead (path endings).
    """
    import sys

    count = 0

    def local(frame: object, event: str, arg: object) -> object:
        nonlocal count
        if event == "line":
            count += 1
        return local

    def tracer(frame: object, event: str, arg: object) -> object:
        filename = frame.f_code.co_filename  # type: ignore[attr-defined]
        # The rules and what they call to judge a file (copies.py finds move-column's pairs).
        if where:
            return local if filename.endswith(where) else None
        in_rules = "/bgmigrate/lint/rules/" in filename or filename.endswith("/bgmigrate/model/copies.py")
        return local if in_rules and "history.py" not in filename else None

    sys.settrace(tracer)  # type: ignore[arg-type]
    try:
        _contexts(sql)
    finally:
        sys.settrace(None)
    return count


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE orders DROP COLUMN c{i};",
        "ALTER TABLE orders ALTER COLUMN c{i} TYPE bigint;",
        "ALTER TABLE orders ADD COLUMN c{i} integer;",
        "CREATE TABLE t{i} (id int);",
        "INSERT INTO orders (id) VALUES ({i});",
        "ALTER TABLE orders RENAME COLUMN a{i} TO b{i};",
        "ALTER VIEW v{i} RENAME TO w{i};",
        "ALTER FUNCTION f{i}(int) RENAME TO g{i};",
        "DROP VIEW v{i};",
        "DROP TRIGGER t{i} ON orders;",
        "ALTER TYPE mood RENAME VALUE 'a{i}' TO 'b{i}';",
        "ALTER TABLE t{i} RENAME TO u{i};",
        "ALTER TABLE orders SET SCHEMA s{i};",
        "INSERT INTO p{i} SELECT id, c{i} FROM orders;\nALTER TABLE orders DROP COLUMN c{i};",
        "BEGIN;\nVACUUM orders;\nCOMMIT;",
    ],
)
def test_rules_do_work_linear_in_the_statements_of_a_file(statement: str) -> None:
    # Four times the statements: about four times the rule work, not sixteen. (Each DROP COLUMN
    # asked whether the column was added earlier by reading every earlier operation: 2,000
    # drops were 2 million reads.)
    small = _rule_lines("\n".join(statement.format(i=i) for i in range(100)))
    large = _rule_lines("\n".join(statement.format(i=i) for i in range(400)))
    assert large < 6 * small, (small, large)


FRAME_SOURCES = [
    "DROP TABLE orders;",
    "SELECT 1;\nDROP TABLE orders;\nSELECT 2;",
    "\n".join(f"SELECT {i};" for i in range(1, 30)),
    "CREATE TABLE café (naïve text, 名前 text);\nDROP TABLE 表;",
    "SELECT 1;\n\nDROP TABLE orders;",  # an empty line: left to rich
    "SELECT 'x';   \nDROP TABLE t;",  # trailing blanks: left to rich
    "SELECT\t1;\nDROP TABLE t;",  # a tab: left to rich
    "DROP TABLE " + "x" * 200 + ";",  # wraps: left to rich
    "-- ❱ looks like a pointer\nDROP TABLE t; -- 😀 wide",
]


@pytest.mark.parametrize("source", FRAME_SOURCES)
def test_the_plain_frame_is_exactly_what_rich_draws(source: str) -> None:
    lines = text_report.source_lines(source)
    for line in range(1, len(lines) + 1):
        for end in (line, min(len(lines), line + 2)):
            finding = _finding(line, end)
            frame = text_report.frame_of(finding, lines)
            assert frame is not None
            code = lines[frame.first - 1 : frame.last]
            marked = range(frame.line, frame.end + 1)
            plain = text_report._plain_lines(code, frame.first, marked, text_report.PLAIN_WIDTH)
            if plain is None:
                continue
            out = io.StringIO()
            console = text_report.make_console(out, False)
            console.print(text_report._syntax(finding.path, lines, frame))
            assert plain == out.getvalue(), (line, end)


def test_a_frame_opening_on_a_blank_line_keeps_its_numbers() -> None:
    source = "SELECT 1;\n\nDROP INDEX i;\n\nSELECT 2;\n"
    result = LintResult(findings=[_finding(3)], sources={"big.sql": source}, files=1)
    out = io.StringIO()
    render(result, out, catalogue=load_catalogue(), color=False)
    assert "❱ 3 DROP INDEX i;" in out.getvalue()


def test_a_file_of_column_drops_reads_each_statement_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # one_shot_copies read every earlier statement again for each DROP COLUMN: about 1 s for
    # 2,000 drops. Statements tokenized while finding move-column pairs: one per copy at most.
    import bgmigrate.model.copies as copies

    calls = 0
    real = copies.tokenize

    def counting(text: str) -> list[object]:
        nonlocal calls
        calls += 1
        return real(text)  # type: ignore[return-value]

    monkeypatch.setattr(copies, "tokenize", counting)
    sql = "INSERT INTO p SELECT id, c0 FROM orders;\n" + "".join(
        f"ALTER TABLE orders DROP COLUMN c{i};\n" for i in range(400)
    )
    found = list(
        copies.one_shot_copies(parse_migration(load_sql("m.sql", sql))[0], lambda i, t: True, lambda *a: False)
    )
    assert [(f.column, f.drop.stmt.line) for f in found] == [("c0", 2)]
    assert calls <= 2, calls


NAMED_SQL = (
    "CREATE VIEW v AS SELECT 1;\n"
    "ALTER VIEW v RENAME TO w;\n"
    "CREATE TRIGGER tr AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f();\n"
    "ALTER VIEW old RENAME TO v;\n"
    "CREATE TYPE mood AS ENUM ('a');\n"
    "ALTER TYPE feeling ADD VALUE 'x';\n"
    "ALTER TYPE feeling RENAME VALUE 'x' TO 'y';\n"
    "ALTER TYPE feeling RENAME VALUE 'b' TO 'x';\n"
    "SELECT 1;"
)


def test_created_objects_and_enum_values_are_known_without_scanning() -> None:
    from bgmigrate.lint.rules.compat_types import _value_added_here

    seen = _contexts(NAMED_SQL)
    questions = [("view", "v", None), ("view", "w", None), ("view", "old", None), ("type", "mood", None),
                 ("trigger", "tr", "orders"), ("trigger", "tr", "other"), ("trigger", "tr", None)]  # fmt: skip
    for _, ctx in seen:
        assert isinstance(ctx.earlier, Prefix) and ctx.earlier.names is not None
        scan = OpContext(**{**ctx.__dict__, "earlier": list(ctx.earlier)})
        for kind, name, table in questions:
            on = _name(table) if table else None
            # The kept names answer exactly what a walk back through the operations answers.
            assert ctx.created_here(kind, _name(name), on) == scan.created_here(kind, _name(name), on)
        for value in ("x", "y", "b"):
            assert _value_added_here(ctx, _name("feeling"), value) == _value_added_here(scan, _name("feeling"), value)
    last = seen[-1][1]
    assert last.created_here("view", _name("w")) and not last.created_here("view", _name("v"))
    assert last.created_here("trigger", _name("tr"), _name("orders"))
    assert not last.created_here("trigger", _name("tr"), _name("other"))
    assert _value_added_here(last, _name("feeling"), "y") and not _value_added_here(last, _name("feeling"), "x")


@pytest.mark.parametrize(
    ("head", "statement"),
    [
        # Each ADD VALUE walked the rest of its transaction for a use of the value.
        ("BEGIN;\n", "ALTER TYPE mood ADD VALUE 'v{i}';"),
        ("BEGIN;\nCREATE TYPE mood AS ENUM ('a');\n", "ALTER TYPE mood ADD VALUE 'v{i}';\nSELECT 'v{i}'::mood;"),
        # Each type change after a lock holder looked its column's old type up from the start.
        ("BEGIN;\nALTER TABLE orders ADD COLUMN x int;\n", "ALTER TABLE orders ALTER COLUMN c{i} TYPE bigint;"),
    ],
)
def test_rules_stay_linear_inside_one_long_transaction(head: str, statement: str) -> None:
    small = _rule_lines(head + "\n".join(statement.format(i=i) for i in range(100)))
    large = _rule_lines(head + "\n".join(statement.format(i=i) for i in range(400)))
    assert large < 6 * small, (small, large)


def test_column_types_before_an_operation_match_a_scan() -> None:
    from bgmigrate.lint.rules.lock_transactions import _index_of, _type_before, _type_before_earlier

    seen = _contexts(
        "ALTER TABLE t ALTER COLUMN a TYPE bigint;\n"
        "CREATE TABLE t (a int, b text);\n"
        "ALTER TABLE t ALTER COLUMN b TYPE varchar(5);\n"
        "ALTER TABLE t ADD COLUMN c numeric;\n"
        "ALTER TABLE t ALTER COLUMN a TYPE text;\n"
        "ALTER TABLE t ALTER COLUMN c TYPE real;\n"
        "ALTER TABLE u ALTER COLUMN a TYPE int;\n"
        "ALTER TABLE t ALTER COLUMN z TYPE int;\n"
        "SELECT 1;"
    )
    last = seen[-1][1].earlier
    answers = []
    for op, _ in seen:
        if isinstance(op, ops.AlterColumnType):
            scanned = _type_before(op, list(last)[: _index_of(op, last)])
            assert _type_before_earlier(op, last) == scanned, op.stmt.text
            answers.append(scanned)
    assert answers == [None, "text", "integer", "numeric", None, None]


@pytest.mark.parametrize(
    "statement",
    [
        # Each DROP COLUMN listed (and sorted) every index of its table to find the ones over it.
        "CREATE INDEX i{i} ON orders (c{i});\nALTER TABLE orders DROP COLUMN d{i};",
        "CREATE INDEX i{i} ON orders (c{i});\nALTER TABLE orders RENAME COLUMN c{i} TO e{i};",
        # And every one of its constraints (a table holding a CHECK per column).
        "ALTER TABLE orders ADD CONSTRAINT k{i} CHECK (c{i} > 0);\nALTER TABLE orders DROP COLUMN d{i};",
        "ALTER TABLE orders ADD CONSTRAINT k{i} CHECK (c{i} > 0);\nALTER TABLE orders RENAME COLUMN d{i} TO e{i};",
    ],
)
def test_replay_does_work_linear_in_the_statements_of_a_file(statement: str) -> None:
    small = _rule_lines("\n".join(statement.format(i=i) for i in range(100)), where=("/bgmigrate/model/replay.py",))
    large = _rule_lines("\n".join(statement.format(i=i) for i in range(400)), where=("/bgmigrate/model/replay.py",))
    assert large < 6 * small, (small, large)


def test_indexes_over_a_column_follow_renames_and_drops() -> None:
    schema = Schema()
    migration = load_sql(
        "m.sql",
        "CREATE TABLE t (a int, b int);\nCREATE INDEX ia ON t (a);\nCREATE INDEX iab ON t (a, b);\n"
        "ALTER TABLE t RENAME COLUMN a TO c;\nCREATE INDEX ic ON t (c);\nALTER TABLE t DROP COLUMN b;\n",
    )
    analyse(migration, parse_migration(migration)[0], schema, LintSettings())
    assert {name: index.columns for (_, name), index in schema.indexes.items()} == {"ia": ("c",), "ic": ("c",)}
    more = load_sql("n.sql", "ALTER TABLE t DROP COLUMN c;\n")
    analyse(more, parse_migration(more)[0], schema, LintSettings())
    assert schema.indexes == {}
