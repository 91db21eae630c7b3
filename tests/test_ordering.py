"""Migration order: natural file order for SQL, the down_revision graph for Alembic."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

from bgmigrate.model.migration import Migration
from bgmigrate.project.ordering import find_version_dirs, find_versions_dir, order_alembic, order_sql_files

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def rev(revision: str | None, *down: str) -> Migration:
    return Migration(
        path=f"versions/{revision}.py", kind="alembic", statements=(), revision=revision, down_revisions=down
    )


def revisions(migrations: list[Migration]) -> list[str | None]:
    return [m.revision for m in migrations]


def test_sql_files_sort_naturally_by_file_name() -> None:
    paths = [Path(p) for p in ("10_drop.sql", "2_add.sql", "sub/1_init.sql", "2_add_b.sql", "V11__x.sql")]
    assert [p.name for p in order_sql_files(paths)] == [
        "1_init.sql",
        "2_add.sql",
        "2_add_b.sql",
        "10_drop.sql",
        "V11__x.sql",
    ]
    assert order_sql_files([]) == []


def test_sql_files_with_timestamps_and_zero_padding() -> None:
    names = ["20240102_b.sql", "20240101_a.sql", "0003_c.sql", "3_c.sql", "0002_b.sql"]
    assert [p.name for p in order_sql_files(Path(n) for n in names)] == [
        "0002_b.sql",
        "0003_c.sql",
        "3_c.sql",
        "20240101_a.sql",
        "20240102_b.sql",
    ]


def test_linear_history_runs_root_first_whatever_the_input_order() -> None:
    chain = [rev("a"), rev("b", "a"), rev("c", "b"), rev("d", "c")]
    shuffled = chain[:]
    random.Random(7).shuffle(shuffled)
    ordered, problems = order_alembic(shuffled)
    assert revisions(ordered) == ["a", "b", "c", "d"]
    assert problems == []


def test_branches_and_merges_are_ordered_deterministically() -> None:
    # root → (x1 → x2) and (b1) → merge(x2, b1) → tip
    graph = [
        rev("tip", "merge"),
        rev("merge", "x2", "b1"),
        rev("x2", "x1"),
        rev("x1", "root"),
        rev("b1", "root"),
        rev("root"),
    ]
    ordered, problems = order_alembic(graph)
    order = revisions(ordered)
    assert problems == []
    assert order == ["root", "b1", "x1", "x2", "merge", "tip"]  # ties by revision id
    assert revisions(order_alembic(list(reversed(graph)))[0]) == order


def test_two_roots_and_two_heads() -> None:
    ordered, problems = order_alembic([rev("z2", "z1"), rev("z1"), rev("a2", "a1"), rev("a1")])
    assert revisions(ordered) == ["a1", "a2", "z1", "z2"]
    assert problems == []


def test_missing_parent_goes_last_and_is_reported() -> None:
    ordered, problems = order_alembic([rev("c", "b"), rev("orphan_child", "orphan"), rev("orphan", "gone"), rev("b")])
    assert revisions(ordered) == ["b", "c", "orphan", "orphan_child"]
    assert problems == [
        "orphan (versions/orphan.py): down_revision gone not found",
        "revisions orphan_child depend on revisions that cannot be placed",
    ]


def test_a_cycle_does_not_crash() -> None:
    ordered, problems = order_alembic([rev("a"), rev("b", "a", "d"), rev("c", "b"), rev("d", "c"), rev("e", "d")])
    assert revisions(ordered)[0] == "a"
    assert sorted(revisions(ordered)) == ["a", "b", "c", "d", "e"]
    assert "revisions b, c, d form a cycle" in problems
    assert any("e" in p and "cannot be placed" in p for p in problems)


def test_duplicates_and_missing_revision_ids_are_kept_and_reported() -> None:
    first, duplicate, anonymous = rev("a"), rev("a"), rev(None)
    ordered, problems = order_alembic([first, duplicate, anonymous])
    assert ordered == [first, duplicate, anonymous]
    assert len(problems) == 2
    assert "also defined" in problems[0] and "no revision id" in problems[1]


def test_orders_the_fixture_project() -> None:
    from bgmigrate.project.alembic_offline import load_alembic

    versions = sorted((FIXTURES / "alembic" / "versions").glob("*.py"), reverse=True)
    ordered, problems = order_alembic([load_alembic(p) for p in versions])
    assert problems == []
    assert revisions(ordered) == [
        "1a0c5e2b7d01",
        "2b7e9f3c4a12",
        "3c1d4e5f6a23",
        "3d8a2b6c9e34",
        "4e5f6a7b8c45",
        "5f0b1c2d3e56",
    ]


def test_find_versions_dir_of_the_fixture_project() -> None:
    ini = FIXTURES / "alembic" / "alembic.ini"
    assert find_versions_dir(ini) == (FIXTURES / "alembic" / "versions").resolve()


def write_ini(tmp_path: Path, body: str) -> Path:
    ini = tmp_path / "alembic.ini"
    ini.write_text(textwrap.dedent(body), encoding="utf-8")
    return ini


def test_relative_script_location(tmp_path: Path) -> None:
    ini = write_ini(tmp_path, "[alembic]\nscript_location = migrations\nsqlalchemy.url = postgresql://u:p%%40ss@h/db\n")
    assert find_versions_dir(ini) == (tmp_path / "migrations" / "versions").resolve()


def test_version_locations_win(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path,
        """\
        [alembic]
        script_location = %(here)s/migrations
        version_locations = %(here)s/migrations/versions, %(here)s/plugins/billing
        """,
    )
    assert find_version_dirs(ini) == [
        (tmp_path / "migrations" / "versions").resolve(),
        (tmp_path / "plugins" / "billing").resolve(),
    ]
    assert find_versions_dir(ini) == (tmp_path / "migrations" / "versions").resolve()


def test_version_locations_with_a_path_separator(tmp_path: Path) -> None:
    ini = write_ini(
        tmp_path,
        """\
        [alembic]
        script_location = db
        path_separator = semicolon
        version_locations = db/versions;db/more versions
        """,
    )
    assert find_version_dirs(ini) == [
        (tmp_path / "db" / "versions").resolve(),
        (tmp_path / "db" / "more versions").resolve(),
    ]


def test_versions_compare_as_numbers_whatever_the_separator() -> None:
    names = ["V10__c.sql", "V10.1__d.sql", "V2__b.sql", "V1_1__a2.sql", "V1__a.sql", "V11__e.sql"]
    assert [p.name for p in order_sql_files(Path(n) for n in names)] == [
        "V1__a.sql",
        "V1_1__a2.sql",
        "V2__b.sql",
        "V10__c.sql",
        "V10.1__d.sql",
        "V11__e.sql",
    ]
    # "-", "_" and "." after the version do not decide the order: the description does.
    dashed = ["2-b.sql", "1_b.sql", "1-a.sql", "1.1-c.sql", "10_a.sql"]
    assert [p.name for p in order_sql_files(Path(n) for n in dashed)] == [
        "1-a.sql",
        "1_b.sql",
        "1.1-c.sql",
        "2-b.sql",
        "10_a.sql",
    ]
    stamps = ["2024-01-10-0900_b.sql", "2024-01-09-1200_a.sql", "2024-01-10-0800_c.sql"]
    assert [p.name for p in order_sql_files(Path(n) for n in stamps)] == [
        "2024-01-09-1200_a.sql",
        "2024-01-10-0800_c.sql",
        "2024-01-10-0900_b.sql",
    ]


def test_the_configured_order_is_used() -> None:
    names = ["R__views.sql", "V10__c.sql", "V2__a.sql", "V1.0.1__x.sql", "V1__base.sql"]
    flyway = [p.name for p in order_sql_files((Path(n) for n in names), "flyway")]
    assert flyway == ["V1__base.sql", "V1.0.1__x.sql", "V2__a.sql", "V10__c.sql", "R__views.sql"]
    lexical = [p.name for p in order_sql_files((Path(n) for n in names), "lexical")]
    assert lexical == sorted(names)


def test_lint_orders_a_folder_as_its_configuration_says(tmp_path: Path) -> None:
    from bgmigrate.project.config import load_config
    from bgmigrate.project.ordering import run_order

    (tmp_path / "bgmigrate.toml").write_text('[lint]\norder = "flyway"\n', encoding="utf-8")
    config = load_config(tmp_path / "bgmigrate.toml")
    assert config.settings.order == "flyway"
    paths = [Path(n) for n in ("R__seed.sql", "V2__b.sql", "V10__c.sql")]
    assert [p.name for p in run_order(paths, config.settings.order)] == ["V2__b.sql", "V10__c.sql", "R__seed.sql"]


def test_sqitch_deploys_in_plan_order_not_by_name(tmp_path: Path) -> None:
    from bgmigrate.project.ordering import run_order

    (tmp_path / "deploy").mkdir()
    (tmp_path / "sqitch.plan").write_text(
        "%syntax-version=1.0.0\n%project=shop\n\n"
        "users 2024-01-01T00:00:00Z A <a@x> # users\n"
        "accounts [users] 2024-01-02T00:00:00Z A <a@x> # accounts\n"
        "@v1 2024-01-03T00:00:00Z A <a@x> # tag\n"
        "users [users@v1] 2024-01-04T00:00:00Z A <a@x> # rework\n",
        encoding="utf-8",
    )
    paths = [tmp_path / "deploy" / n for n in ("accounts.sql", "users.sql", "users@v1.sql", "zz_unplanned.sql")]
    for path in paths:
        path.write_text("SELECT 1;\n", encoding="utf-8")
    # users@v1.sql is the first deploy of "users"; users.sql its rework, after the tag.
    assert [p.name for p in run_order(paths)] == ["users@v1.sql", "accounts.sql", "users.sql", "zz_unplanned.sql"]
