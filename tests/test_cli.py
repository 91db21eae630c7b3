"""The lint command as users run it: exit statuses, bad input, configuration, suppression, --diff."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess: what pre-commit and CI see."""
    return subprocess.run(
        [sys.executable, "-m", "bgmigrate", *args], capture_output=True, text=True, cwd=cwd or ROOT, check=False
    )


def lint_json(*args: str, cwd: Path | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    done = run("lint", "--format", "json", "--no-cache", *args, cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads(done.stdout)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_clean_file_exits_zero(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n")
    code, report = lint_json(str(tmp_path / "m"))
    assert code == 0 and report["findings"] == [] and report["files"] == 1


def test_findings_exit_one_and_fail_on_threshold(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "ALTER TABLE orders DROP COLUMN status;\n")
    code, report = lint_json(str(tmp_path / "m"))
    assert code == 1
    finding = report["findings"][0]
    assert (finding["rule"], finding["line"], finding["column"]) == ("drop-column", 1, 1)
    assert finding["path"].endswith("0001.sql")
    code, _ = lint_json(str(tmp_path / "m"), "--ignore", "drop-column")
    assert code in (0, 1)
    code, report = lint_json(str(tmp_path / "m"), "--ignore", "compatibility")
    assert all(f["rule"] != "drop-column" for f in report["findings"])


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    done = run("lint", "--no-cache", str(tmp_path / "nope.sql"))
    assert done.returncode == 2
    assert "nope.sql" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_non_utf8_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "m" / "0001.sql"
    path.parent.mkdir()
    path.write_bytes(b"SELECT 1;\nSELECT '\xff';\n")
    code, report = lint_json(str(path))
    assert code == 2
    assert report["errors"][0]["line"] == 2 and "UTF-8" in report["errors"][0]["message"]


def test_syntax_error_reported_and_other_files_still_linted(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "ALTR TABLE t;\nALTER TABLE orders DROP COLUMN a;\n")
    write(tmp_path, "m/0002.sql", "ALTER TABLE orders DROP COLUMN b;\n")
    code, report = lint_json(str(tmp_path / "m"))
    assert code == 2
    assert [(e["line"]) for e in report["errors"]] == [1]
    assert sorted(f["message"].split()[2] for f in report["findings"] if f["rule"] == "drop-column") == ["a", "b"]


def test_unknown_option_is_a_usage_error() -> None:
    done = run("lint", "--no-such-option", "x.sql")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_text_report_has_code_frame_and_summary(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "-- remove it\nALTER TABLE orders DROP COLUMN status;\n")
    done = run("lint", "--no-cache", "--no-color", str(tmp_path / "m"))
    assert done.returncode == 1
    assert "drop-column" in done.stdout and "ALTER TABLE orders DROP COLUMN status" in done.stdout
    assert "\x1b[" not in done.stdout
    assert "1 error" in done.stdout.splitlines()[-1]


def test_suppressions_with_and_without_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        "m/0001.sql",
        "-- bgmigrate: ignore[drop-column] blue retired in 4.2\n"
        "ALTER TABLE orders DROP COLUMN a;\n"
        "ALTER TABLE orders DROP COLUMN b; -- bgmigrate: ignore[drop-column]\n"
        "-- bgmigrate: ignore[drop-table] nothing to suppress here\n"
        "SELECT 1;\n",
    )
    _, report = lint_json(str(tmp_path / "m"))
    rules = sorted((f["rule"], f["line"]) for f in report["findings"])
    assert ("drop-column", 2) not in rules and ("drop-column", 3) not in rules
    assert ("ignore-without-reason", 3) in rules
    assert ("unused-ignore", 4) in rules


def test_file_level_suppression(tmp_path: Path) -> None:
    write(
        tmp_path,
        "m/0001.sql",
        "-- bgmigrate: ignore-file[drop-column] contract migration, blue retired\n\n"
        "ALTER TABLE orders DROP COLUMN a;\nALTER TABLE orders DROP COLUMN b;\n",
    )
    _, report = lint_json(str(tmp_path / "m"))
    assert [f for f in report["findings"] if f["rule"] == "drop-column"] == []


def test_config_discovered_by_walking_up(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[tool.bgmigrate]\nignore = ["drop-column"]\n')
    write(tmp_path, "svc/db/migrations/0001.sql", "ALTER TABLE orders DROP COLUMN a;\n")
    write(tmp_path, "other/bgmigrate.toml", '[lint]\nseverity = { drop-column = "info" }\n')
    write(tmp_path, "other/migrations/0001.sql", "ALTER TABLE orders DROP COLUMN a;\n")
    _, report = lint_json(str(tmp_path / "svc" / "db" / "migrations"), str(tmp_path / "other" / "migrations"))
    by_rule = {(Path(f["path"]).parent.parent.name, f["rule"]): f["severity"] for f in report["findings"]}
    assert ("db", "drop-column") not in by_rule
    assert by_rule[("other", "drop-column")] == "info"


def test_per_path_ignores(tmp_path: Path) -> None:
    write(tmp_path, "bgmigrate.toml", '[lint]\nper-path-ignores = { "legacy/*" = ["drop-column"] }\n')
    write(tmp_path, "legacy/0001.sql", "ALTER TABLE orders DROP COLUMN a;\n")
    write(tmp_path, "current/0001.sql", "ALTER TABLE orders DROP COLUMN a;\n")
    _, report = lint_json("legacy", "current", cwd=tmp_path)
    paths = {f["path"] for f in report["findings"] if f["rule"] == "drop-column"}
    assert paths == {"current/0001.sql"}


def test_bad_configuration_is_one_line_exit_two(tmp_path: Path) -> None:
    write(tmp_path, "bgmigrate.toml", "[lint]\nselct = ['x']\n")
    write(tmp_path, "m/0001.sql", "SELECT 1;\n")
    done = run("lint", "m", cwd=tmp_path)
    assert done.returncode == 2 and "selct" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_unknown_rule_selector_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "SELECT 1;\n")
    done = run("lint", "--select", "no-such-rule", str(tmp_path / "m"))
    assert done.returncode == 2 and "no-such-rule" in done.stderr


def test_single_file_is_judged_after_its_earlier_siblings(tmp_path: Path) -> None:
    write(tmp_path, "m/0001.sql", "CREATE TABLE drafts (id bigint PRIMARY KEY, note text);\n")
    write(tmp_path, "m/0002.sql", "ALTER TABLE drafts DROP COLUMN note;\nALTER TABLE drafts DROP COLUMN id;\n")
    _, report = lint_json(str(tmp_path / "m" / "0002.sql"))
    assert {f["path"] for f in report["findings"]} == {str(tmp_path / "m" / "0002.sql")}
    assert [f["line"] for f in report["findings"] if f["rule"] == "drop-column"] == [1, 2]
    write(tmp_path, "m/0002.sql", "CREATE TABLE drafts2 (id int, note text);\nALTER TABLE drafts2 DROP COLUMN note;\n")
    _, report = lint_json(str(tmp_path / "m" / "0002.sql"))
    assert [f for f in report["findings"] if f["rule"] == "drop-column"] == []


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_diff_lints_only_changed_files(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "t@example.com")
    _git(tmp_path, "config", "user.name", "t")
    write(tmp_path, "m/0001.sql", "ALTER TABLE orders DROP COLUMN old;\n")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "one")
    write(tmp_path, "m/0002.sql", "ALTER TABLE orders DROP COLUMN newer;\n")
    _, report = lint_json("--diff", "HEAD", "m", cwd=tmp_path)
    assert [f["path"] for f in report["findings"] if f["rule"] == "drop-column"] == ["m/0002.sql"]
    done = run("lint", "--diff", "no-such-ref", "m", cwd=tmp_path)
    assert done.returncode == 2 and "no-such-ref" in done.stderr and "Traceback" not in done.stderr


def test_rules_and_explain() -> None:
    runner = CliRunner()
    listing = runner.invoke(main, ["rules", "--format", "json"])
    assert listing.exit_code == 0
    names = {r["name"] for r in json.loads(listing.output)["rules"]}
    assert {"drop-column", "unparsed-statement"} <= names
    explained = runner.invoke(main, ["explain", "BG101"])
    assert explained.exit_code == 0 and "drop-column" in explained.output and "Safe recipe" in explained.output
    missing = runner.invoke(main, ["explain", "no-such-rule"])
    assert missing.exit_code == 2


def test_generated_rule_docs_are_up_to_date() -> None:
    from bgmigrate.docs_gen import generate
    from bgmigrate.lint.catalogue import load_catalogue

    folder = ROOT / "docs" / "rules"
    pages = generate(load_catalogue(), folder)
    stale = [p.name for p, text in pages.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    assert stale == [], "run `python -m bgmigrate.docs_gen` to refresh docs/rules/"
    extra = {p.name for p in folder.glob("*.md")} - {p.name for p in pages}
    assert extra == set()


@pytest.mark.parametrize("fmt", ["sarif", "github", "gitlab"])
def test_machine_formats_on_the_shipped_examples(fmt: str) -> None:
    done = run("lint", "--no-cache", "--format", fmt, "fixtures/examples")
    assert done.returncode == 1 and done.stdout.strip()
    if fmt != "github":
        json.loads(done.stdout)


def test_lint_replays_sql_files_in_the_planners_order() -> None:
    from bgmigrate.project.ordering import order_sql_files, run_order

    paths = [Path(n) for n in ("b/V10__x.sql", "B_create.sql", "a_use.sql", "env.py", "v2__y.sql", "V1__z.sql")]
    ordered = run_order(paths)
    assert ordered[:-1] == order_sql_files(p for p in paths if p.suffix == ".sql")
    assert [p.name for p in ordered] == ["a_use.sql", "B_create.sql", "V1__z.sql", "v2__y.sql", "V10__x.sql", "env.py"]
