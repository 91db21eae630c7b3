"""Reporters: snapshots of every format, plus the properties each format promises."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from snapshot import assert_snapshot

from bgmigrate.lint.catalogue import Catalogue, RuleEntry
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project.result import LintResult, Note
from bgmigrate.report import FORMATS, render
from bgmigrate.report.fastjson import Items, write_indented
from bgmigrate.report.github import escape_data, escape_property, finding_command

SCHEMA = Path(__file__).parent.parent / "bgmigrate" / "report" / "sarif-2.1.0.schema.json"
ANSI = re.compile(r"\x1b\[")


def _entry(code: str, name: str, severity: Severity, group: str, summary: str) -> RuleEntry:
    return RuleEntry(
        code=code,
        name=name,
        severity=severity,
        group=group,
        summary=summary,
        why=f"Why {name} hurts under blue-green deployment.",
        recipe=f"1. Expand.\n2. Migrate.\n3. Contract ({name}).",
    )


CATALOGUE = Catalogue(
    entries={
        "rename-column": _entry(
            "BG101",
            "rename-column",
            Severity.ERROR,
            "compatibility",
            "Renaming a column breaks the version still running.",
        ),
        "add-index-locking": _entry(
            "BG201",
            "add-index-locking",
            Severity.WARNING,
            "locking",
            "CREATE INDEX without CONCURRENTLY blocks writes.",
        ),
        "missing-lock-timeout": _entry(
            "BG301",
            "missing-lock-timeout",
            Severity.INFO,
            "style",
            "Set lock_timeout before DDL.",
        ),
    }
)

SQL = """\
-- 001: rename the email column
SET lock_timeout = '2s';
ALTER TABLE users
  RENAME COLUMN email TO email_address;
CREATE INDEX users_name_idx ON users (name);
"""

ALEMBIC = """\
def upgrade():
    op.alter_column("accounts", "login", new_column_name="username")
"""

RENAME_FIX = (
    "1. Add column email_address to users.\n"
    "2. Backfill it in batches:\n"
    "     UPDATE users SET email_address = email WHERE id BETWEEN ...;\n"
    "3. Drop users.email in the contract phase."
)


def _finding(**overrides: object) -> Finding:
    values: dict[str, object] = {
        "rule": "rename-column",
        "code": "BG101",
        "severity": Severity.ERROR,
        "path": "db/001_rename.sql",
        "line": 3,
        "column": 1,
        "end_line": 4,
        "end_column": 38,
        "message": ('Renaming column "email" on table "users" breaks the blue version, which still reads "email".'),
        "fix": RENAME_FIX,
    }
    values.update(overrides)
    return Finding(**values)  # type: ignore[arg-type]


def sample_result() -> LintResult:
    """Findings of every severity, deliberately unsorted, across three files (one without source)."""
    findings = [
        _finding(
            rule="add-index-locking",
            code="BG201",
            severity=Severity.WARNING,
            line=5,
            end_line=5,
            end_column=44,
            message='CREATE INDEX on "users" takes a SHARE lock: writes wait until the index is built.',
            fix="Use CREATE INDEX CONCURRENTLY users_name_idx ON users (name); outside a transaction.",
        ),
        _finding(),
        _finding(
            rule="missing-lock-timeout",
            code="BG301",
            severity=Severity.INFO,
            path="db/002_gone.sql",
            line=1,
            end_line=1,
            end_column=20,
            message="No lock_timeout is set; a blocked ALTER queues every query behind it.",
            fix="Add SET lock_timeout = '2s'; at the top of the migration.",
        ),
        _finding(
            path="alembic/versions/3f2a_rename.py",
            line=2,
            end_line=2,
            column=5,
            end_column=69,
            message='Renaming column "login" on table "accounts" breaks the blue version.',
            fix="1. Add column username.\n2. Backfill.\n3. Drop login later.",
        ),
    ]
    return LintResult(
        findings=findings,
        errors=[InputError("db/003_broken.sql", 7, 'syntax error at or near "TABLEE"')],
        files=4,
        sources={"db/001_rename.sql": SQL, "alembic/versions/3f2a_rename.py": ALEMBIC},
    )


def rendered(result: LintResult, fmt: str, **kwargs: object) -> str:
    out = io.StringIO()
    render(result, fmt, out, catalogue=CATALOGUE, **kwargs)  # type: ignore[arg-type]
    return out.getvalue()


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# ---- snapshots ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("text", "report.txt"),
        ("json", "report.json"),
        ("sarif", "report.sarif"),
        ("github", "report.github.txt"),
        ("gitlab", "report.gitlab.json"),
    ],
)
def test_snapshot(fmt: str, name: str) -> None:
    assert_snapshot(name, rendered(sample_result(), fmt, color=False))


def test_snapshot_clean_run() -> None:
    assert_snapshot("clean.txt", rendered(LintResult(files=12), "text"))


# ---- text --------------------------------------------------------------------------------


def test_text_plain_output_has_no_escape_codes_or_trailing_spaces() -> None:
    text = rendered(sample_result(), "text")  # StringIO is no terminal: colour off by default
    assert not ANSI.search(text)
    assert all(line == line.rstrip() for line in text.splitlines())
    assert all(len(line) <= 100 for line in text.splitlines())


def test_text_colour_only_when_asked() -> None:
    assert ANSI.search(rendered(sample_result(), "text", color=True))
    assert not ANSI.search(rendered(sample_result(), "text", color=False))


def test_text_colour_on_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = FakeTerminal()
    render(sample_result(), "text", tty, catalogue=CATALOGUE)
    assert ANSI.search(tty.getvalue())

    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTerminal()
    render(sample_result(), "text", tty, catalogue=CATALOGUE)
    assert not ANSI.search(tty.getvalue())


def test_text_prints_full_fix_and_explain_pointer() -> None:
    text = rendered(sample_result(), "text")
    assert "UPDATE users SET email_address = email WHERE id BETWEEN ...;" in text
    assert "3. Drop users.email in the contract phase." in text
    assert "run: bgmigrate explain rename-column" in text
    assert "why: Renaming a column breaks the version still running." in text


def test_text_finding_without_source_still_renders() -> None:
    result = LintResult(findings=[_finding()], files=1)  # no sources at all
    text = rendered(result, "text")
    assert "db/001_rename.sql:3:1  error  rename-column [BG101]" in text
    assert 'Renaming column "email"' in text
    assert "fix: 1. Add column email_address to users." in text
    assert "ALTER TABLE" not in text  # no frame to show


def test_text_finding_past_end_of_source_still_renders() -> None:
    result = LintResult(findings=[_finding(line=40, end_line=41)], files=1, sources={"db/001_rename.sql": SQL})
    assert "db/001_rename.sql:40:1" in rendered(result, "text")


def test_text_rule_missing_from_catalogue_has_no_why() -> None:
    result = LintResult(findings=[_finding(rule="new-rule", code="BG999")], files=1)
    text = rendered(result, "text")
    assert "new-rule [BG999]" in text
    assert "why:" not in text


def test_text_long_statement_frame_is_cut() -> None:
    source = "ALTER TABLE users\n" + "".join(f"  ADD COLUMN c{i} int,\n" for i in range(30)) + "  ADD x int;\n"
    finding = _finding(line=1, end_line=32, path="db/long.sql")
    text = rendered(LintResult(findings=[finding], files=1, sources={"db/long.sql": source}), "text")
    assert "… 20 more lines" in text
    assert "c29" not in text


def test_text_summary_lines() -> None:
    assert rendered(LintResult(files=1), "text").endswith("No findings in 1 file\n")
    with_errors = LintResult(errors=[InputError("a.sql", 0, "cannot read")], files=2)
    text = rendered(with_errors, "text")
    assert "a.sql: error: cannot read" in text
    assert text.endswith("No findings in 2 files, 1 input error\n")
    assert rendered(sample_result(), "text").endswith("2 errors, 1 warning, 1 info in 4 files, 1 input error\n")


# ---- json --------------------------------------------------------------------------------


def test_json_is_one_stable_document() -> None:
    first = rendered(sample_result(), "json")
    shuffled = sample_result()
    shuffled.findings.reverse()
    assert rendered(shuffled, "json") == first  # input order does not matter
    doc = json.loads(first)
    assert list(doc) == ["findings", "files", "errors", "notes", "summary"]
    assert doc["summary"] == {"error": 2, "warning": 1, "info": 1}
    assert doc["files"] == 4
    keys = [(f["path"], f["line"], f["column"], f["code"]) for f in doc["findings"]]
    assert keys == sorted(keys)
    assert first.endswith("}\n")


# ---- sarif -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft4Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


@pytest.mark.parametrize(
    "result",
    [sample_result(), LintResult(files=3), LintResult(findings=[_finding(rule="new", code="BG999")])],
    ids=["sample", "clean", "unknown-rule"],
)
def test_sarif_is_valid(sarif_validator: jsonschema.Draft4Validator, result: LintResult) -> None:
    sarif_validator.validate(json.loads(rendered(result, "sarif")))


def test_sarif_results_point_at_their_rules() -> None:
    run = json.loads(rendered(sample_result(), "sarif"))["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["BG101", "BG201", "BG301"]  # every catalogue rule
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    assert {r["level"] for r in run["results"]} == {"error", "warning", "note"}
    assert run["invocations"][0]["executionSuccessful"] is False
    assert len(run["invocations"][0]["toolExecutionNotifications"]) == 1


def test_sarif_region_end_column_is_exclusive() -> None:
    run = json.loads(rendered(LintResult(findings=[_finding()]), "sarif"))["runs"][0]
    region = run["results"][0]["locations"][0]["physicalLocation"]["region"]
    assert region == {"startLine": 3, "startColumn": 1, "endLine": 4, "endColumn": 39}


def test_sarif_fingerprints_are_stable_and_distinct() -> None:
    twin = _finding(line=9, end_line=9)  # same rule, path and message, different place
    moved = _finding(line=30, end_line=31)
    fingerprints = [
        json.loads(rendered(LintResult(findings=findings), "sarif"))["runs"][0]["results"]
        for findings in ([_finding(), twin], [moved])
    ]
    first, second = (r["partialFingerprints"] for r in fingerprints[0])
    assert first != second
    assert fingerprints[1][0]["partialFingerprints"] == first  # moving the statement keeps it


def test_sarif_clean_run_succeeds() -> None:
    run = json.loads(rendered(LintResult(files=1), "sarif"))["runs"][0]
    assert run["invocations"] == [{"executionSuccessful": True}]
    assert run["results"] == []


# ---- github ------------------------------------------------------------------------------


def test_github_escaping() -> None:
    assert escape_data("100% sure\r\nnext") == "100%25 sure%0D%0Anext"
    assert escape_property("dir,x/a:b.sql") == "dir%2Cx/a%3Ab.sql"
    line = finding_command(_finding(path="db/a,b:c.sql", message="50% of rows", fix="1. do x\n2. do y"))
    assert line.startswith("::error file=db/a%2Cb%3Ac.sql,line=3,col=1,endLine=4,title=rename-column [BG101]::")
    assert line.endswith("::50%25 of rows — 1. do x%0A2. do y")
    assert "\n" not in line


def test_github_one_line_per_finding_and_error() -> None:
    lines = rendered(sample_result(), "github").splitlines()
    assert len(lines) == 5
    assert [line.split(" ", 1)[0] for line in lines] == [
        "::error",
        "::error",
        "::error",
        "::warning",
        "::notice",
    ]


# ---- gitlab ------------------------------------------------------------------------------


def test_gitlab_issues() -> None:
    issues = json.loads(rendered(sample_result(), "gitlab"))
    assert len(issues) == 5
    fingerprints = [i["fingerprint"] for i in issues]
    assert len(set(fingerprints)) == len(fingerprints)
    assert all(re.fullmatch(r"[0-9a-f]{32}", f) for f in fingerprints)
    by_rule = {i["check_name"]: i["severity"] for i in issues}
    assert by_rule == {
        "input-error": "blocker",
        "rename-column": "critical",
        "add-index-locking": "major",
        "missing-lock-timeout": "info",
    }
    assert issues[1]["location"] == {
        "path": "alembic/versions/3f2a_rename.py",
        "lines": {"begin": 2, "end": 2},
    }


# ---- dispatch ----------------------------------------------------------------------------


def test_every_format_renders_a_clean_run() -> None:
    for fmt in FORMATS:
        out = rendered(LintResult(), fmt)
        # No findings means no annotations at all for GitHub; every other format says so.
        assert out == "" if fmt == "github" else out.endswith("\n")


def test_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        rendered(LintResult(), "xml")


@pytest.mark.parametrize("fmt", ["json", "sarif", "github", "gitlab"])
def test_machine_formats_do_not_import_rich(fmt: str) -> None:
    code = (
        "import io, sys\n"
        "from bgmigrate.lint.catalogue import Catalogue\n"
        "from bgmigrate.project.result import LintResult\n"
        "from bgmigrate.report import render\n"
        f"render(LintResult(), {fmt!r}, io.StringIO(), catalogue=Catalogue(entries={{}}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'pygments')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ---- hostile names through the CLI ---------------------------------------------------------------

HOSTILE_COLUMN = "gone\x1b[2J\nsrc/forged.sql:1:1  error  drop-table [BG001]\rx\x1b[31m"
HOSTILE_FILE = "0002_drop\x1b[32m.sql"


def _lint_cli(folder: Path, fmt: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "bgmigrate", "lint", "--no-cache", "--format", fmt, str(folder)]
    return subprocess.run(argv, capture_output=True, text=True, env=env, check=False)


@pytest.fixture(scope="module")
def hostile_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile") / "m"
    folder.mkdir()
    (folder / "0001_init.sql").write_text("CREATE TABLE orders (id bigint PRIMARY KEY);\n", encoding="utf-8")
    quoted = '"' + HOSTILE_COLUMN + '"'
    # The file's own text carries an escape sequence and a carriage return as well.
    sql = f"-- \x1b]0;pwned\x07 note\r\nALTER TABLE orders DROP COLUMN {quoted};\n"
    (folder / HOSTILE_FILE).write_text(sql, encoding="utf-8")
    return folder


@pytest.mark.parametrize("fmt", ["text", "github", "gitlab"])
def test_human_and_annotation_output_carries_no_control_characters(hostile_folder: Path, fmt: str) -> None:
    done = _lint_cli(hostile_folder, fmt)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    out = done.stdout
    assert "drop-column" in out
    # No escape sequence, carriage return or bell from the names or the file reaches the output.
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", out), repr(out)
    assert "\\x1b[2J" in out and "\\n" in out  # shown, visibly escaped
    if fmt == "text":
        assert not any(line.startswith("src/forged.sql") for line in out.splitlines())
    if fmt == "github":
        assert all(line.startswith("::") for line in out.splitlines())
    if fmt == "gitlab":
        issues = json.loads(out)
        assert all(c.isprintable() for issue in issues for c in str(issue["description"]))


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_machine_output_keeps_names_exact(hostile_folder: Path, fmt: str) -> None:
    done = _lint_cli(hostile_folder, fmt)
    assert done.returncode == 1, done.stderr
    assert "\x1b" not in done.stdout  # JSON escapes it ...
    doc = json.loads(done.stdout)
    if fmt == "json":
        messages = [f["message"] for f in doc["findings"]]
    else:
        messages = [r["message"]["text"] for r in doc["runs"][0]["results"]]
    assert any(HOSTILE_COLUMN in m for m in messages)  # ... and reading it back gives the name exactly


# ---- notes: what was left out, in machine output -------------------------------------------------


@pytest.fixture(scope="module")
def skipping_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("skipping") / "m"
    folder.mkdir()
    files = {
        "0001_init.sql": "CREATE TABLE orders (id bigint PRIMARY KEY);\n",
        "0001_init.down.sql": "DROP TABLE orders;\n",
        "0002_more.pgsql": "DROP TABLE orders;\n",
        "0003_dyn.sql": "SELECT 1;\nDO $$ BEGIN EXECUTE format('DROP TABLE %I', 'orders'); END $$;\n",
        "0004_sections.sql": "-- migrate:up\nSELECT 1;\n\n-- migrate:down\nDROP TABLE orders;\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


EXPECTED_NOTES = [
    ("0001_init.down.sql", None, "rollback-script"),
    ("0002_more.pgsql", None, "unknown-extension"),
    ("0003_dyn.sql", 2, "not-analysed"),
    ("0004_sections.sql", 4, "down-section"),
]


def test_json_lists_what_was_left_out(skipping_folder: Path) -> None:
    done = _lint_cli(skipping_folder, "json")
    notes = json.loads(done.stdout)["notes"]
    assert [(Path(n["path"]).name, n["line"], n["kind"]) for n in notes] == EXPECTED_NOTES, notes
    assert all(list(n) == ["path", "line", "kind", "message"] and n["message"] for n in notes)
    assert "not linted" in done.stderr  # people still get the short note


def test_sarif_lists_what_was_left_out_and_stays_valid(
    skipping_folder: Path, sarif_validator: jsonschema.Draft4Validator
) -> None:
    done = _lint_cli(skipping_folder, "sarif")
    doc = json.loads(done.stdout)
    sarif_validator.validate(doc)
    invocation = doc["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is True
    found = []
    for n in invocation["toolExecutionNotifications"]:
        physical = n["locations"][0]["physicalLocation"]
        line = physical.get("region", {}).get("startLine")
        found.append((physical["artifactLocation"]["uri"].rsplit("/", 1)[-1], line, n["properties"]["kind"]))
        assert n["level"] == "note" and n["message"]["text"]
    assert found == EXPECTED_NOTES


def test_sarif_notes_are_valid_beside_input_errors(sarif_validator: jsonschema.Draft4Validator) -> None:
    result = sample_result()
    result.skipped.append(Note("db/9.down.sql", "rollback-script", "not linted"))
    doc = json.loads(rendered(result, "sarif"))
    sarif_validator.validate(doc)
    levels = [n["level"] for n in doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]]
    assert levels == ["error", "note"] and doc["runs"][0]["invocations"][0]["executionSuccessful"] is False


def test_a_crlf_file_is_framed_without_escapes(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "0001.sql").write_bytes(b"SELECT 1;\r\nDROP TABLE orders;\r\nSELECT 2;\r\n")
    out = _lint_cli(folder, "text").stdout
    assert "1 SELECT 1;\n" in out and "2 DROP TABLE orders;\n" in out, out
    assert "\\r" not in out and "\r" not in out


_JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=8), st.floats(allow_nan=True), st.just('é\u2028\x00"\\')
)
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.tuples(inner), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300)
@given(_JSON_VALUES)
def test_indented_json_is_the_text_json_writes(value: object) -> None:
    # The reports write JSON without json's pure-Python indenter: the text must not change.
    whole = io.StringIO()
    write_indented(value, whole)
    assert whole.getvalue() == json.dumps(value, indent=2)
    out = io.StringIO()
    write_indented({"items": Items(lambda: [value, value]), "value": value}, out)
    assert out.getvalue() == json.dumps({"items": [value, value], "value": value}, indent=2)


def test_a_long_list_is_written_in_pieces_and_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[str] = []

    class Recording(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    value = {"findings": Items(lambda: ({"n": n, "x": [n, None, "é"]} for n in range(20_000))), "empty": Items(list)}
    write_indented(value, Recording())
    expected = {"findings": [{"n": n, "x": [n, None, "é"]} for n in range(20_000)], "empty": []}
    assert "".join(writes) == json.dumps(expected, indent=2)
    assert len(writes) > 10, "written as it goes, not as one string"
