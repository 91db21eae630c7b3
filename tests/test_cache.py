"""The result cache: a hit equals a cold run, every input that decides a result invalidates it,
a corrupt entry is a warning and a rebuild, and --no-cache leaves the cache alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bgmigrate.cli import main
from bgmigrate.lint.catalogue import load_catalogue, rules_dir
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project import replay_chain, sources
from bgmigrate.project.cache import (
    DIR_NAME,
    FORMAT,
    FileResult,
    FolderEntry,
    ResultCache,
    SequenceResult,
    cache_dir,
    decode_entry,
    encode_entry,
    engine_fingerprint,
    sequence_result,
)
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint

FIRST = "CREATE TABLE orders (id bigint PRIMARY KEY, note text, qty integer);\n"
SECOND = (
    "ALTER TABLE orders DROP COLUMN note;\n"
    "CREATE INDEX orders_qty_idx ON orders (qty);\n"
    "ALTER TABLE orders RENAME COLUMN qty TO quantity;\n"
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of two migrations, the cwd, with the cache directed into tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BGMIGRATE_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_create.sql").write_text(FIRST, encoding="utf-8")
    (folder / "0002_change.sql").write_text(SECOND, encoding="utf-8")
    return folder


class Linted:
    """Counts how often folders are really linted (a cache hit lints nothing)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        real = replay_chain.lint_sequence

        def counting(*args: object, **kwargs: object) -> object:
            self.calls += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(replay_chain, "lint_sequence", counting)


def lint(
    *paths: Path, use_cache: bool = True, warnings: list[str] | None = None, overrides: dict[str, object] | None = None
) -> LintResult:
    request = LintRequest(
        paths=tuple(str(p) for p in paths), use_cache=use_cache, jobs=1, overrides=dict(overrides or {})
    )
    sink = warnings if warnings is not None else []
    result, _ = run_lint(request, warn=sink.append)
    return result


def same(a: LintResult, b: LintResult) -> bool:
    return (a.findings, a.errors, a.files, a.sources) == (b.findings, b.errors, b.files, b.sources)


def entries(root: Path) -> list[Path]:
    return sorted((root / FORMAT).glob("*.json"))


def test_a_hit_gives_what_a_cold_run_gives_without_linting(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cold = lint(project, use_cache=False)
    assert cold.findings, "the fixture should produce findings"
    first = lint(project)
    counter = Linted(monkeypatch)
    warm = lint(project)
    assert counter.calls == 0
    assert same(cold, first)
    assert same(cold, warm)


def test_the_hit_skips_parsing_entirely(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(project)

    def fail(*args: object, **kwargs: object) -> object:
        raise AssertionError("a warm run must not parse")

    monkeypatch.setattr("bgmigrate.lint.engine.parse_migration", fail)
    monkeypatch.setattr(sources, "load_source", fail)
    assert lint(project).files == 2


def test_the_cache_folder_is_tagged_ignored_and_json(project: Path) -> None:
    lint(project)
    root = project.parent / "cache"
    assert (root / "CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert (root / ".gitignore").read_text().splitlines()[-1] == "*"
    [entry] = entries(root)
    data = json.loads(entry.read_text(encoding="utf-8"))
    assert set(data) == {"chain", "files", "snapshots"}
    assert [f["path"] for f in data["files"]] == ["migrations/0001_create.sql", "migrations/0002_change.sql"]
    assert not list((root / FORMAT).glob("*.tmp")), "writes go through a temporary file and a rename"


def test_the_cache_lives_beside_the_config_file_else_in_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BGMIGRATE_CACHE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cache_dir(None) == tmp_path / DIR_NAME
    config = tmp_path / "proj" / "bgmigrate.toml"
    assert cache_dir(config) == tmp_path / "proj" / DIR_NAME
    monkeypatch.setenv("BGMIGRATE_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert cache_dir(config) == tmp_path / "elsewhere"


def test_a_project_config_puts_the_cache_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BGMIGRATE_CACHE_DIR", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    proj = tmp_path / "proj"
    (proj / "migrations").mkdir(parents=True)
    (proj / "bgmigrate.toml").write_text("[lint]\npg-version = 14\n", encoding="utf-8")
    (proj / "migrations" / "0001.sql").write_text(FIRST, encoding="utf-8")
    lint(proj / "migrations")
    assert entries(proj / DIR_NAME)
    assert not (work / DIR_NAME).exists()


def test_changing_the_file_invalidates(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(project)
    (project / "0002_change.sql").write_text("ALTER TABLE orders DROP COLUMN qty;\n", encoding="utf-8")
    counter = Linted(monkeypatch)
    warm = lint(project)
    assert counter.calls == 1
    assert same(warm, lint(project, use_cache=False))
    assert all(f.line == 1 for f in warm.findings if f.path.endswith("0002_change.sql"))


def test_changing_an_earlier_sibling_invalidates_a_later_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    later = project / "0002_change.sql"
    before = lint(later)
    (project / "0001_create.sql").write_text(
        "CREATE TABLE orders (id bigint PRIMARY KEY, note text, qty bigint);\n", encoding="utf-8"
    )
    counter = Linted(monkeypatch)
    after = lint(later)
    assert counter.calls == 1, "the later file is judged against the schema the earlier one builds"
    assert same(after, lint(later, use_cache=False))
    assert before.files == after.files == 1


def test_adding_a_sibling_invalidates(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lint(project)
    (project / "0003_more.sql").write_text("ALTER TABLE orders DROP COLUMN id;\n", encoding="utf-8")
    counter = Linted(monkeypatch)
    warm = lint(project)
    assert counter.calls == 1
    assert warm.files == 3
    assert same(warm, lint(project, use_cache=False))


@pytest.mark.parametrize(
    "overrides",
    [{"ignore": ("drop-column",)}, {"pg_version": 10}, {"assume_in_transaction": True}],
    ids=["ignore", "pg-version", "in-transaction"],
)
def test_changing_a_setting_invalidates(
    project: Path, monkeypatch: pytest.MonkeyPatch, overrides: dict[str, object]
) -> None:
    default = lint(project)
    counter = Linted(monkeypatch)
    changed = lint(project, overrides=overrides)
    assert counter.calls == 1
    assert same(changed, lint(project, use_cache=False, overrides=overrides))
    if "ignore" in overrides:
        assert {f.rule for f in default.findings} - {f.rule for f in changed.findings} == {"drop-column"}
    assert same(lint(project), default)


def test_a_changed_rule_changes_the_fingerprint(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for path in rules_dir().glob("*.toml"):
        (rules / path.name).write_bytes(path.read_bytes())
    fingerprint = engine_fingerprint(load_catalogue(str(rules)))
    assert fingerprint == engine_fingerprint(load_catalogue(str(rules)))
    rule = rules / "drop-column.toml"
    text = rule.read_text(encoding="utf-8")
    rule.write_text(text.replace('severity = "error"', 'severity = "warning"', 1), encoding="utf-8")
    load_catalogue.cache_clear()
    assert engine_fingerprint(load_catalogue(str(rules))) != fingerprint


CORRUPTIONS = {
    "not-json": b"{ this is not json",
    "truncated": None,  # the real entry cut in half
    "not-an-object": b"[1, 2, 3]",
    "wrong-types": None,  # the real entry with a line number turned into a string
    "unknown-severity": None,  # the real entry with a severity no one knows
    "binary": b"\x80\x04\x95pickle?",
    "deeply-nested": b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_a_corrupt_entry_warns_and_is_rebuilt(project: Path, kind: str) -> None:
    cold = lint(project, use_cache=False)
    lint(project)
    [entry] = entries(project.parent / "cache")
    entry.write_bytes(_corrupt(entry.read_bytes(), kind))
    warnings: list[str] = []
    assert same(lint(project, warnings=warnings), cold)
    assert len(warnings) == 1 and "corrupt" in warnings[0] and str(entry) in warnings[0]
    assert "\n" not in warnings[0]
    again: list[str] = []
    assert same(lint(project, warnings=again), cold)
    assert again == [], "the rebuilt entry is readable"


def _corrupt(good: bytes, kind: str) -> bytes:
    fixed = CORRUPTIONS[kind]
    if fixed is not None:
        return fixed
    if kind == "truncated":
        return good[: len(good) // 2]
    data = json.loads(good)
    # The file the test lints has findings; its stored body is JSON of its own.
    record = next(r for r in data["files"] if json.loads(r["body"])["findings"])
    body = json.loads(record["body"])
    if kind == "wrong-types":
        body["findings"][0]["line"] = "1"
    else:
        body["findings"][0]["severity"] = "catastrophic"
    record["body"] = json.dumps(body)
    return json.dumps(data).encode()


def test_the_cli_warns_on_stderr_in_one_line(project: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["lint", str(project), "--format", "json"])
    [entry] = entries(project.parent / "cache")
    entry.write_bytes(b"garbage")
    done = runner.invoke(main, ["lint", str(project), "--format", "json"])
    assert done.exit_code == 1, done.output
    warning_lines = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("bgmigrate: warning: cache entry")
    json.loads(done.stdout)


def test_no_cache_neither_reads_nor_writes(project: Path) -> None:
    root = project.parent / "cache"
    lint(project, use_cache=False)
    assert not root.exists(), "nothing written"
    lint(project)
    [entry] = entries(root)
    entry.write_bytes(b"garbage")
    stamp = entry.stat().st_mtime_ns
    warnings: list[str] = []
    lint(project, use_cache=False, warnings=warnings)
    assert warnings == [], "the corrupt entry was not even read"
    assert entry.read_bytes() == b"garbage" and entry.stat().st_mtime_ns == stamp


def test_the_cli_no_cache_flag_writes_nothing(project: Path) -> None:
    done = CliRunner().invoke(main, ["lint", str(project), "--no-cache", "--format", "json"])
    assert done.exit_code == 1, done.output
    assert not (project.parent / "cache").exists()


def test_an_unwritable_cache_is_one_warning_not_a_failure(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BGMIGRATE_CACHE_DIR", str(blocker / "cache"))
    warnings: list[str] = []
    assert same(lint(project, warnings=warnings), lint(project, use_cache=False))
    assert len(warnings) == 1 and "cannot write the cache" in warnings[0]


def test_a_diff_subset_is_served_from_the_folder_entry(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    whole = lint(project)
    counter = Linted(monkeypatch)
    one = lint(project / "0002_change.sql")
    assert counter.calls == 0, "one folder entry serves any subset of its files"
    assert one.findings == [f for f in whole.findings if f.path.endswith("0002_change.sql")]
    assert same(one, lint(project / "0002_change.sql", use_cache=False))


def test_unreadable_files_are_not_cached(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "0003_bad.sql").write_bytes(b"SELECT '\xff';\n")
    first = lint(project)
    assert [e.message for e in first.errors] == ["not UTF-8 (byte 0xff)"]
    assert same(lint(project), first)


def test_entries_round_trip_exactly() -> None:
    findings = tuple(
        Finding(
            rule="drop-column",
            code="BG101",
            severity=severity,
            path="migrations/0002 ünïcode.sql",
            line=3,
            column=5,
            end_line=4,
            end_column=1,
            message='Dropping column "note" — takes ACCESS EXCLUSIVE',
            fix="1. Stop reading it.\n2. Drop it later.",
            table=table,
        )
        for severity, table in ((Severity.ERROR, "orders"), (Severity.WARNING, None), (Severity.INFO, "s.t"))
    )
    errors = (InputError("a.sql", 0, "cannot read: Permission denied"), InputError("b.sql", 7, "syntax error"))
    files = (
        FileResult("a.sql", True, findings, errors[1:]),
        FileResult("b.sql", False, (), errors[:1]),
    )
    original = FolderEntry(("k1", "k2"), files, {1: "k1", 2: "k2"})
    decoded = decode_entry(encode_entry(original))
    assert decoded == FolderEntry(
        ("k1", "k2"), (FileResult("a.sql", True), FileResult("b.sql", False)), original.snapshots
    )
    assert tuple(r.decoded() for r in decoded.files) == files
    assert sequence_result(files) == SequenceResult(findings, (errors[0], errors[1]), ("a.sql",))


def test_a_stale_entry_is_replaced_not_accumulated(project: Path) -> None:
    lint(project)
    (project / "0002_change.sql").write_text("SELECT 1;\n", encoding="utf-8")
    lint(project)
    assert len(entries(project.parent / "cache")) == 1


def test_the_store_writes_atomically(tmp_path: Path) -> None:
    warnings: list[str] = []
    store = ResultCache(tmp_path / "c", warnings.append)
    entry = FolderEntry(("k",), (FileResult("x.sql", True, (), ()),), {1: "k"})
    store.store("slot", entry, {"k": {"tables": []}})
    assert store.load("slot") == entry
    assert store.load_schema("slot", "k") == {"tables": []}
    assert store.load("missing") is None
    assert not list(store.entries.rglob("*.tmp"))
    # A new entry drops the schemas the old one named and it does not.
    store.store("slot", FolderEntry(("j",), (FileResult("x.sql", True),), {1: "j"}), {"j": {}})
    assert store.load_schema("slot", "k") is None and store.load_schema("slot", "j") == {}
    assert warnings == []
