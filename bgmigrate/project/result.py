"""The outcome of one lint run: findings, input errors and what was read."""

from __future__ import annotations

from dataclasses import dataclass, field

from bgmigrate.lint.findings import Finding, InputError, Severity


@dataclass
class LintResult:
    """Everything a reporter needs; ``sources`` maps a path to its text for code frames."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    files: int = 0
    sources: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what was left out on purpose, said once each

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=Finding.sort_key)

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def exit_code(self, fail_on: Severity) -> int:
        """0 clean, 1 findings at or above ``fail_on``, 2 input errors (they win)."""
        if self.errors:
            return 2
        if any(f.severity >= fail_on for f in self.findings):
            return 1
        return 0
