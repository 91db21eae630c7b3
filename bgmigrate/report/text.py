"""The ``text`` format: each finding with its code frame, why it matters and how to fix it.

Colour is for terminals only: piped into a file or a CI log, the output is plain text with no
escape codes at all, 100 columns wide and without trailing spaces, so it diffs and greps well.
"""

from __future__ import annotations

import functools
import os
import textwrap
from collections.abc import Container
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, TextIO

from bgmigrate.lint.catalogue import Catalogue, RuleEntry
from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project.result import LintResult
from bgmigrate.safetext import display, display_lines, printable

if TYPE_CHECKING:
    # rich (and pygments, which its Syntax loads) is imported only where rich draws something:
    # a plain report piped into a file or CI log rarely needs it, and importing it took 15 ms.
    from rich.console import Console, RenderableType
    from rich.syntax import Syntax
    from rich.text import Text

PLAIN_WIDTH = 100
CONTEXT_LINES = 1  # lines shown above and below the statement
MAX_FRAME_LINES = 12

_SEVERITY_STYLES = {Severity.ERROR: "bold red", Severity.WARNING: "bold yellow", Severity.INFO: "bold blue"}
_LEXERS = {".sql": "sql", ".py": "python"}


def _is_terminal(out: TextIO) -> bool:
    try:
        return out.isatty()
    except (AttributeError, ValueError, OSError):  # closed or file-like objects without a tty
        return False


def use_color(out: TextIO, color: bool | None) -> bool:
    """An explicit choice wins; otherwise colour on a terminal unless ``NO_COLOR`` is set."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    return _is_terminal(out)


def make_console(out: TextIO, color: bool | None) -> Console:
    """A console that emits escape codes only when colour is on."""
    from rich.console import Console

    tty = _is_terminal(out)
    on = use_color(out, color)
    return Console(
        file=out,
        # force_terminal=False also stops rich from emitting bold/underline codes on a tty.
        force_terminal=on,
        no_color=not on,
        color_system=("auto" if tty else "standard") if on else None,
        width=None if tty else PLAIN_WIDTH,
        highlight=False,
        emoji=False,
        markup=False,
    )


def plural(count: int, noun: str) -> str:
    """``plural(1, "error")`` → ``"1 error"``; ``info`` has no plural.

    >>> plural(2, "warning"), plural(1, "file"), plural(0, "info")
    ('2 warnings', '1 file', '0 info')
    """
    if count == 1 or noun == "info":
        return f"{count} {noun}"
    return f"{count} {noun}s"


def summary(result: LintResult) -> str:
    """The closing line, e.g. ``3 errors, 1 warning, 0 info in 12 files``."""
    files = plural(result.files, "file")
    if result.findings:
        counts = ", ".join(plural(result.count(s), s.label) for s in sorted(Severity, reverse=True))
        line = f"{counts} in {files}"
    else:
        line = f"No findings in {files}"
    if result.errors:
        line += f", {plural(len(result.errors), 'input error')}"
    return line


def _summary_style(result: LintResult) -> str:
    if result.errors or result.count(Severity.ERROR):
        return "bold red"
    if result.count(Severity.WARNING):
        return "bold yellow"
    return "bold green"


@functools.lru_cache(maxsize=256)
def hanging(prefix: str, body: str, width: int) -> tuple[str, ...]:
    """Wrap ``body`` after ``prefix``, keeping its own line breaks and indenting continuations.

    Cached: a report repeats each rule's "why" and "run" lines, and often its fix, per finding.

    >>> hanging("  fix: ", "1. add a column\\n2. backfill it in batches", 24)
    ('  fix: 1. add a column', '       2. backfill it in', '       batches')
    """
    indent = " " * len(prefix)
    room = max(width - len(prefix), 20)
    out: list[str] = []
    for raw in body.splitlines() or [""]:
        # A line that fits: what wrap_line gives, without its calls.
        wrapped = [raw.rstrip(" ")] if len(raw) <= room and raw.isprintable() else wrap_line(raw, room) or [""]
        for line in wrapped:
            out.append((indent if out else prefix) + line)
    return tuple(out)


def wrap_line(raw: str, room: int) -> list[str]:
    """One line wrapped to ``room`` columns as ``textwrap.wrap`` wraps it, continuation lines
    indented as the line is (e.g. SQL under a numbered step); long words are never broken.

    A line of printable characters whose words all fit is wrapped here, greedily, exactly as
    textwrap would (a property test compares the two); anything else goes to textwrap.

    >>> wrap_line("  a b c  ", 20), wrap_line("   ", 20), wrap_line("  aa bb", 5)
    (['  a b c'], [], ['  aa', '  bb'])
    """
    lead = raw[: len(raw) - len(raw.lstrip())]
    if raw.isprintable():
        found = _greedy(raw, room, lead)
        if found is not None:
            return found
    return textwrap.wrap(raw, width=room, subsequent_indent=lead, break_long_words=False, break_on_hyphens=False)


def _greedy(raw: str, room: int, lead: str) -> list[str] | None:
    """``raw`` (printable: its only white space is spaces) cut into lines of at most ``room``
    columns, continuations after ``lead``; None where textwrap does something subtler (a word
    longer than a line, a lead as wide as the room)."""
    lines: list[str] = []
    start, width, indent = 0, room, ""
    while len(raw) - start > width:
        end = start + width
        cut = end if raw[end] == " " else raw.rfind(" ", start, end)
        line = raw[start:cut].rstrip(" ") if cut > start else ""
        if not line.strip(" "):
            return None  # the next word alone is longer than the line
        lines.append(indent + line)
        start = len(raw) - len(raw[cut:].lstrip(" "))  # continuation lines drop leading spaces
        width, indent = room - len(lead), lead
        if width <= 0:
            return None
    rest = raw[start:].rstrip(" ")
    if rest:
        lines.append(indent + rest)
    return lines


def _block(prefix: str, body: str, width: int, label_style: str = "") -> Text:
    """A labelled, wrapped block as one Text; only the label is styled.

    Wrapped here already: printed with ``soft_wrap`` so rich does not measure it again.
    """
    from rich.text import Text

    text = Text()
    for i, line in enumerate(hanging(prefix, body, width)):
        if i:
            text.append("\n")
        if i == 0 and label_style:
            text.append(prefix, style=label_style)
            text.append(line[len(prefix) :])
        else:
            text.append(line)
    return text


def _header_parts(finding: Finding) -> tuple[tuple[str, str], ...]:
    """``path:line:column  severity  rule-name [CODE]``, as (text, style) pieces."""
    return (
        (f"{display(finding.path)}:{finding.line}:{finding.column}", "bold"),
        ("  ", ""),
        (finding.severity.label, _SEVERITY_STYLES[finding.severity]),
        ("  ", ""),
        (f"{finding.rule} [{finding.code}]", "bold"),
    )


@functools.lru_cache(maxsize=8)
def _lexer(name: str) -> Any:
    """A Pygments lexer, built once (rich would look it up again for every code frame)."""
    from pygments.lexers import get_lexer_by_name  # type: ignore[import-untyped]

    # The options rich itself uses: keep leading and trailing blank lines, tabs as 4 spaces.
    return get_lexer_by_name(name, stripnl=False, ensurenl=True, tabsize=4)


def lexer_for(path: str) -> str:
    """Pygments lexer name by suffix; plain text for anything else.

    >>> lexer_for("db/versions/1a2b_add.py"), lexer_for("001.SQL"), lexer_for("notes.txt")
    ('python', 'sql', 'text')
    """
    return _LEXERS.get(PurePath(path).suffix.lower(), "text")


def source_lines(source: str) -> list[str]:
    """A file's lines as the lexer counts them (split at ``\\n``; a final newline adds none).

    >>> source_lines("a\\nb\\n"), source_lines(""), source_lines("a\\r\\nb\\x1b[2Jc\\r")
    (['a', 'b'], [], ['a', 'b\\\\x1b[2Jc'])
    """
    lines = source.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    # A file's own escape sequences and carriage returns must not reach the terminal; tabs
    # are layout, left to rich, and a CRLF line ending is just a line ending.
    return [printable(line.removesuffix("\r"), keep="\t") for line in lines]


@dataclass(frozen=True)
class Frame:
    """The lines a finding's code frame shows: ``first`` to ``last`` (1-based), the statement's
    own lines ``line`` to ``end`` marked, and how many of them were cut off."""

    first: int
    last: int
    line: int
    end: int
    cut: int


def frame_of(finding: Finding, lines: list[str] | None) -> Frame | None:
    """The statement's lines with a line of context; None when the source is missing or the
    finding points outside it."""
    if lines is None:
        return None
    total = len(lines)
    if not 1 <= finding.line <= total:
        return None
    end = min(max(finding.end_line, finding.line), total)
    first = max(1, finding.line - CONTEXT_LINES)
    last = min(total, end + CONTEXT_LINES, first + MAX_FRAME_LINES - 1)
    return Frame(first, last, finding.line, end, max(0, end - last))


def _syntax(path: str, lines: list[str], frame: Frame) -> Syntax:
    from rich.syntax import Syntax

    return Syntax(
        "\n".join(lines[frame.first - 1 : frame.last]),
        _lexer(lexer_for(path)),
        theme="ansi_dark",  # the terminal's own palette, readable on dark and light backgrounds
        background_color="default",
        line_numbers=True,
        start_line=frame.first,
        highlight_lines=set(range(frame.line, frame.end + 1)),
        word_wrap=True,
    )


def _plain_lines(code: list[str], start: int, marked: Container[int], width: int) -> str | None:
    """The code frame as rich draws it without colour, when every line fits as it is; else None.

    ``❱`` marks the statement's lines; numbers are right-aligned. A line that would wrap, or
    holds a tab, a control character or trailing white space, is left to rich. Only the excerpt
    shown is highlighted when rich draws it (highlighting the whole file for every finding made
    a report quadratic).
    """
    digits = len(str(start + len(code) - 1))
    room = width - (digits + 2) - 1
    out: list[str] = []
    for number, line in enumerate(code, start):
        if not line or line != line.rstrip() or not line.isprintable() or cell_len(line) > room:
            return None
        pointer = "❱ " if number in marked else "  "
        out.append(f"{pointer}{str(number).rjust(digits)} {line}\n")
    return "".join(out)


def cell_len(text: str) -> int:
    """Terminal columns ``text`` takes (rich's measure; plain ASCII is one column a character)."""
    if text.isascii():
        return len(text)
    from rich.cells import cell_len as measure

    return measure(text)


# Pieces of text gathered before they are written: a write per line made a report of 2,000
# findings 28,000 writes, and one write of the whole report held it twice in memory.
_FLUSH_PARTS = 8192


class _Report:
    """The report being written: gathered in memory, written a few thousand pieces at a time.

    Without colour, text that needs no wrapping is kept as it is instead of going through rich,
    whose layout work per line cost more than the lint (the output is the same). The console is
    made when rich first draws something: on a terminal at once (it knows the width), piped
    into a file only when a part needs it.
    """

    def __init__(self, out: TextIO, color: bool | None) -> None:
        self._out = out
        self._color = color
        self._console: Console | None = None
        self.plain = not use_color(out, color)
        self.width = PLAIN_WIDTH if self.plain and not _is_terminal(out) else self.console.width
        self.parts: list[str] = []

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = make_console(self._out, self._color)
        return self._console

    def text(self, text: Text, *, wrapped: bool = False) -> None:
        """A Text; ``wrapped``: its lines are wrapped to the width already."""
        if self.plain and (wrapped or cell_len(text.plain) <= self.width) and "\t" not in text.plain:
            self.parts.append(text.plain + "\n")
        else:
            self.rich(text, soft_wrap=wrapped)

    def styled(self, *parts: tuple[str, str]) -> None:
        """One line of styled pieces (the Text is made only where rich draws it)."""
        if self.plain:
            line = "".join(piece for piece, _ in parts)
            if cell_len(line) <= self.width and "\t" not in line:
                self.parts.append(line + "\n")
                return
        from rich.text import Text

        self.text(Text.assemble(*parts))

    def block(self, prefix: str, body: str, label_style: str = "") -> None:
        """``body`` wrapped after the label ``prefix``, as ``_block`` draws it."""
        if self.plain:
            lines = "\n".join(hanging(prefix, body, self.width))
            if "\t" not in lines:
                self.parts.append(lines + "\n")
                return
        self.text(_block(prefix, body, self.width, label_style), wrapped=True)

    def frame(self, path: str, lines: list[str], frame: Frame) -> None:
        """A code frame: drawn here when plain and every line fits, else by rich."""
        if self.plain:
            code = lines[frame.first - 1 : frame.last]
            plain = _plain_lines(code, frame.first, range(frame.line, frame.end + 1), self.width)
            if plain is not None:
                self.parts.append(plain)
                return
        self.rich(_syntax(path, lines, frame))

    def rich(self, renderable: RenderableType, **options: Any) -> None:
        with self.console.capture() as captured:
            self.console.print(renderable, **options)
        self.parts.append(captured.get())

    def blank(self) -> None:
        self.parts.append("\n")

    def flush(self, out: TextIO) -> None:
        """Write what is gathered so far (a report of many findings is never one string)."""
        out.write("".join(self.parts))
        self.parts.clear()


def _print_finding(report: _Report, finding: Finding, lines: list[str] | None, entry: RuleEntry | None) -> None:
    report.styled(*_header_parts(finding))
    # Names and messages may hold anything a migration's identifiers hold: one line, no controls.
    report.block("  ", display(finding.message))
    frame = frame_of(finding, lines)
    if frame is not None and lines is not None:
        report.frame(finding.path, lines, frame)
        if frame.cut:
            report.styled((f"  … {plural(frame.cut, 'more line')}", "dim"))
    if entry is not None:
        report.block("  why: ", entry.summary, "bold")
    if finding.fix:
        report.block("  fix: ", display_lines(finding.fix), "bold green")
    report.block("  run: ", f"bgmigrate explain {finding.rule}", "bold")
    report.blank()


def input_error_line(error: InputError) -> str:
    """``path:line: error: message`` (no line when the whole file failed); printed in red."""
    where = f"{error.path}:{error.line}" if error.line > 0 else error.path
    return f"{display(where)}: error: {display(error.message)}"


def render(result: LintResult, out: TextIO, *, catalogue: Catalogue, color: bool | None = None) -> None:
    """Write input errors, then every finding in order, then the summary line."""
    report = _Report(out, color)
    for error in result.errors:
        report.styled((input_error_line(error), "red"))
    if result.errors:
        report.blank()
    split: dict[str, list[str]] = {}  # each file split into lines once, not once per finding
    for finding in result.sorted_findings():
        entry = catalogue.get(finding.rule) or catalogue.get(finding.code)
        source = result.sources.get(finding.path)
        if source is not None and finding.path not in split:
            split[finding.path] = source_lines(source)
        _print_finding(report, finding, split.get(finding.path), entry)
        if len(report.parts) >= _FLUSH_PARTS:
            report.flush(out)
    report.styled((summary(result), _summary_style(result)))
    report.flush(out)
