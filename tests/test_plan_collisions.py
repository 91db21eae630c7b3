"""No plan creates a name that is still taken at its point of the phased timeline.

A drop deferred to contract keeps its name taken through expand and migrate; a statement that
re-creates the name there would fail at run time. The planner refuses such a plan (exit 2, one
line, nothing written), and its self-check of the phases catches one should the guard miss it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.parse.source import load_sql
from bgmigrate.plan import invariants
from bgmigrate.plan.passes import plan_operations
from bgmigrate.plan.phases import Phase, Plan, Step
from bgmigrate.plan.render_sql import render_sql
from bgmigrate.plan.request import PlanError, PlanRequest
from bgmigrate.plan.testing import knowledge_of, operations_of

SETUP = """
CREATE TABLE t (id int PRIMARY KEY, a int, b int, CONSTRAINT t_b_check CHECK (b > a));
CREATE INDEX t_a_idx ON t (a);
CREATE TRIGGER audit AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f();
CREATE TABLE old (id int);
"""


def plan_of(sql: str) -> Plan:
    return plan_operations(operations_of(sql), knowledge_of(SETUP), PlanRequest("p", "m.sql"))


def test_a_name_reused_after_a_deferred_drop_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "001_t.sql").write_text(SETUP)
    path = tmp_path / "002_a.sql"
    path.write_text("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD COLUMN a bigint;\n")
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "bgmigrate: error: line 2: no safe plan: expand would create column t.a while column t.a still exists "
        "(it goes only in contract, line 1), so 'as written: ALTER TABLE t ADD COLUMN a bigint' would fail with "
        "'already exists'. Give the new one another name, or free the name in a migration of its own and plan "
        "this one after that migration's contract has run\n"
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("sql", "collision"),
    [
        ("ALTER TABLE t DROP COLUMN a;\nCREATE INDEX t_a_idx ON t (b);", "index t_a_idx while index t_a_idx"),
        (
            "ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD CONSTRAINT t_b_check CHECK (b > 0);",
            "constraint t_b_check on t while constraint t_b_check on t",
        ),
        ("DROP TABLE old;\nCREATE TABLE old (id bigint);", "table old while table old"),
        (
            "DROP TRIGGER audit ON t;\nCREATE TRIGGER audit BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION g();",
            "trigger audit on t while trigger audit on t",
        ),
        ("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t RENAME b TO a;", "column t.a while column t.a"),
    ],
    ids=["index", "constraint", "table", "trigger", "rename"],
)
def test_every_kind_of_name_is_guarded(sql: str, collision: str) -> None:
    with pytest.raises(
        PlanError,
        match=rf"^line 2: no safe plan: expand would create {collision} still exists \(it goes only in contract, line 1\)",
    ):
        plan_of(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE n (id int);\nCREATE TRIGGER audit BEFORE INSERT ON n FOR EACH ROW EXECUTE FUNCTION g();",
        "CREATE INDEX ON t (b);\nALTER TABLE t ADD COLUMN IF NOT EXISTS a int;",
        "-- bgmigrate: ignore[drop-column] a is unused since v41\nALTER TABLE t DROP COLUMN a;\n"
        "ALTER TABLE t ADD COLUMN a bigint;\nALTER TABLE t ADD CONSTRAINT t_b_check CHECK (b > 0);",
    ],
    ids=["trigger name on another table", "unnamed and if not exists", "drop the author kept in place"],
)
def test_names_that_are_free_are_not_refused(sql: str) -> None:
    plan_of(sql)


def test_a_drop_the_author_suppressed_stays_in_place() -> None:
    plan = plan_of("-- bgmigrate: ignore[drop-column] a is unused since v41\nALTER TABLE t DROP COLUMN a;\n"
                   "ALTER TABLE t ADD COLUMN a bigint;")  # fmt: skip
    assert [s.sql.splitlines()[-1] for s in plan.phase("expand").steps] == [
        "ALTER TABLE t DROP COLUMN a", "ALTER TABLE t ADD COLUMN a bigint",
    ]  # fmt: skip
    assert plan.phase("contract").steps == ()


def colliding_plan() -> Plan:
    """What the planner produced before it knew better: the drop deferred, the name reused in expand."""
    add = Step("sql", "add t.a", "ALTER TABLE t ADD COLUMN a bigint", source_line=2)
    drop = Step("sql", "drop t.a", "ALTER TABLE t DROP COLUMN a", source_line=1)
    return Plan("p", "m.sql", (Phase("expand", (add,)), Phase("migrate"), Phase("contract", (drop,))))


def test_the_self_check_of_the_phases_catches_a_statement_that_fails() -> None:
    before = [load_sql("001_t.sql", SETUP)]
    # The line of the statement in the file a person would open (the header's length may change).
    line = render_sql(colliding_plan())["01_expand.sql"].splitlines().index("ALTER TABLE t ADD COLUMN a bigint;") + 1
    assert line > 1
    assert invariants.replay_failures(colliding_plan(), before) == [
        f"plan/01_expand.sql:{line}: ALTER TABLE t ADD COLUMN a bigint — column t.a already exists there"
    ]
    with pytest.raises(invariants.PhaseCheckError, match=rf"a phase would fail: plan/01_expand\.sql:{line}\b"):
        invariants.lint_phases(colliding_plan(), before, load_catalogue())


def test_a_plan_failing_its_self_check_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defence in depth: with the guard switched off, the check of the phases still refuses to write."""
    import bgmigrate.plan.passes

    monkeypatch.setattr(bgmigrate.plan.passes, "guard", lambda plan, *_args: plan)
    (tmp_path / "001_t.sql").write_text(SETUP)
    path = tmp_path / "002_a.sql"
    path.write_text("ALTER TABLE t DROP COLUMN a;\nALTER TABLE t ADD COLUMN a bigint;\n")
    result = CliRunner().invoke(main, ["plan", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.stderr.startswith("bgmigrate: error: the plan failed its own check, nothing written")
    assert "ALTER TABLE t ADD COLUMN a bigint — column t.a already exists there" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_do_block_is_carried_over_whole_with_a_note(tmp_path: Path) -> None:
    source = tmp_path / "0001_guarded.sql"
    source.write_text(
        "DO $$ BEGIN\n  IF NOT EXISTS (SELECT 1) THEN ALTER TABLE orders ADD COLUMN b int; END IF;\nEND $$;\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [sys.executable, "-m", "bgmigrate", "plan", str(source), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    plan = Plan.from_json((tmp_path / "out" / "plan.json").read_text(encoding="utf-8"))
    expand = [s.sql for s in plan.phase("expand").steps]
    assert len(expand) == 1 and expand[0].startswith("DO $$") and "IF NOT EXISTS" in expand[0]
    assert any("DO block" in note for note in plan.passthrough)
