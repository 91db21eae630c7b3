"""The plain text report is drawn without rich where it can be: it must be exactly what rich draws."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bgmigrate.lint.catalogue import load_catalogue
from bgmigrate.project.result import LintResult
from bgmigrate.project.run import LintRequest, run_lint
from bgmigrate.report import text as text_report

ROOT = Path(__file__).resolve().parent.parent

# Words, runs of spaces, and what textwrap treats specially: tabs, other white space, hyphens,
# wide and combining characters, control characters.
_PIECES = st.sampled_from(["a", "bb", "ccc", "dddddddd", " ", "  ", "\t", "-", "é", "名", "😀", "\u00a0", "\x1b", "\r"])


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join), st.integers(min_value=1, max_value=40), st.booleans())
def test_a_line_wraps_exactly_as_textwrap_wraps_it(body: str, room: int, indented: bool) -> None:
    raw = ("   " + body) if indented else body
    lead = raw[: len(raw) - len(raw.lstrip())]
    expected = textwrap.wrap(raw, width=room, subsequent_indent=lead, break_long_words=False, break_on_hyphens=False)
    assert text_report.wrap_line(raw, room) == expected


def _rich_only(result: LintResult, monkeypatch: pytest.MonkeyPatch) -> str:
    """The report with every part drawn by rich (the slow path, taken as the reference)."""
    real = text_report._Report.__init__

    def init(self: text_report._Report, console: object, plain: bool) -> None:
        real(self, console, False)  # type: ignore[arg-type]

    with monkeypatch.context() as patched:
        patched.setattr(text_report._Report, "__init__", init)
        return _render(result)


def _render(result: LintResult) -> str:
    out = io.StringIO()
    text_report.render(result, out, catalogue=load_catalogue(), color=False)
    return out.getvalue()


HOSTILE = [
    "ALTER TABLE t DROP COLUMN a;\n",
    "ALTER TABLE\tt DROP COLUMN a;   \n",  # a tab and trailing blanks in the frame
    '-- ❱ 名前 😀\nALTER TABLE "名前" DROP COLUMN "列";\n',  # wide characters
    "ALTER TABLE " + "x" * 150 + " DROP COLUMN " + "y" * 120 + ";\n",  # lines longer than the report
    'ALTER TABLE "a\tb" DROP COLUMN "c  d";\nCREATE INDEX i ON "a\tb" (x);\n',  # tabs inside names
]


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_findings_read_the_same_as_rich_draws_them(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "001.sql").write_text(source, encoding="utf-8")
    result, _ = run_lint(LintRequest(paths=("001.sql",), use_cache=False, jobs=1))
    assert result.findings, "each source should produce findings"
    assert _render(result) == _rich_only(result, monkeypatch)


def test_the_shipped_examples_read_the_same_as_rich_draws_them(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result, _ = run_lint(LintRequest(paths=("fixtures/examples", "fixtures/alembic"), use_cache=False, jobs=1))
    assert len(result.findings) > 20
    assert _render(result) == _rich_only(result, monkeypatch)
