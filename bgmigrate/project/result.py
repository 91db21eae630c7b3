"""The outcome of one lint run: findings, input errors and what was read."""

from __future__ import annotations

from dataclasses import dataclass, field

from bgmigrate.lint.findings import Finding, InputError, Severity

NOT_ANALYSED_RULE = "unparsed-statement"


@dataclass(frozen=True)
class Note:
    """Input left out of the analysis on purpose or by necessity, for machine formats.

    ``kind``: ``unknown-extension``, ``rollback-script``, ``down-section``, ``verify-script``
    (files not linted) or ``not-analysed`` (a statement read but not judged).
    """

    path: str
    kind: str
    message: str
    line: int | None = None

    def sort_key(self) -> tuple[str, int, str, str]:
        return (self.path, self.line or 0, self.kind, self.message)

    def to_dict(self) -> dict[str, object]:
        """The stable JSON shape of a note (``line`` is null for a whole file)."""
        return {"path": self.path, "line": self.line, "kind": self.kind, "message": self.message}


@dataclass
class LintResult:
    """Everything a reporter needs; ``sources`` maps a path to its text for code frames."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    files: int = 0
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was left out on purpose, said once each
    skipped: list[Note] = field(default_factory=list)  # the same, file by file, for machine formats

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def machine_notes(self) -> list[Note]:
        """Every file left out and every statement not analysed, in a stable order.

        Not-analysed statements are findings too; listed here as well so a script reading only
        the notes still learns what went unchecked.
        """
        unread = [Note(f.path, "not-analysed", f.message, f.line) for f in self.findings if f.rule == NOT_ANALYSED_RULE]
        return sorted(dict.fromkeys([*self.skipped, *unread]), key=Note.sort_key)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def exit_code(self, fail_on: Severity) -> int:
        """0 clean, 1 findings at or above ``fail_on``, 2 input errors (they win)."""
        if self.errors:
            return 2
        if any(f.severity >= fail_on for f in self.findings):
            return 1
        return 0
