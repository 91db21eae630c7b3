"""The ``github`` format: GitHub Actions workflow commands, which become annotations on the PR."""

from __future__ import annotations

from typing import TextIO

from bgmigrate.lint.findings import Finding, InputError, Severity
from bgmigrate.project.result import LintResult
from bgmigrate.safetext import display, display_lines

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a command's message so newlines survive (GitHub's own rules).

    >>> escape_data("50% done\\nnext")
    '50%25 done%0Anext'
    """
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a property value, where ``:`` and ``,`` would end the value.

    >>> escape_property("db/001,a:b.sql")
    'db/001%2Ca%3Ab.sql'
    """
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(level: str, properties: dict[str, object], message: str) -> str:
    # No control character reaches the log: a name holding an escape sequence or a line break
    # could otherwise colour the log or forge a command (the callers display the message).
    props = ",".join(f"{key}={escape_property(display(str(value)))}" for key, value in properties.items())
    return f"::{level} {props}::{escape_data(message)}"


def finding_command(finding: Finding) -> str:
    """One annotation for a finding; the fix rides along after the message."""
    properties: dict[str, object] = {
        "file": finding.path,
        "line": finding.line,
        "col": finding.column,
        "endLine": max(finding.end_line, finding.line),
        "title": f"{finding.rule} [{finding.code}]",
    }
    # The message is one line whatever the names in it hold; the fix keeps its own steps' lines.
    message = display(finding.message) + (f" — {display_lines(finding.fix)}" if finding.fix else "")
    return _command(_LEVELS[finding.severity], properties, message)


def error_command(error: InputError) -> str:
    """One ``::error`` for a file that could not be read or parsed."""
    properties: dict[str, object] = {"file": error.path}
    if error.line > 0:  # line 0 means "the whole file"; GitHub wants a real line or none
        properties["line"] = error.line
    properties["title"] = "bgmigrate input error"
    return _command("error", properties, display(error.message))


def render(result: LintResult, out: TextIO) -> None:
    """Write input errors first, then one command per finding in sorted order."""
    for error in result.errors:
        out.write(error_command(error) + "\n")
    for finding in result.sorted_findings():
        out.write(finding_command(finding) + "\n")
