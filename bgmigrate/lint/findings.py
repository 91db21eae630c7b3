"""Findings: the values rules produce and reporters render."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.IntEnum):
    """Ordered so that ``>=`` means "at least as serious"."""

    INFO = 1
    WARNING = 2
    ERROR = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"error"`` → ``Severity.ERROR``.

        >>> Severity.parse("Warning")
        <Severity.WARNING: 2>
        """
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (error, warning or info)") from None

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    """One reported hazard at a place in a file."""

    rule: str
    code: str
    severity: Severity
    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    message: str
    fix: str
    table: str | None = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.path, self.line, self.column, self.code)

    def to_dict(self) -> dict[str, object]:
        """The stable JSON shape of a finding."""
        return {
            "rule": self.rule,
            "code": self.code,
            "severity": self.severity.label,
            "path": self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass(frozen=True)
class InputError:
    """A file that could not be read or parsed at all (exit status 2)."""

    path: str
    line: int
    message: str

    def to_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "message": self.message}

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"
