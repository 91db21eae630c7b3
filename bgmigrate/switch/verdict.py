"""Gate results and verdicts: values, so every attempt can be printed, logged and tested alike."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict: its name, whether it passed, and why in one line."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> GateResult:
        return cls(name=str(data["name"]), ok=bool(data["ok"]), detail=str(data.get("detail", "")))


@dataclass(frozen=True)
class Verdict:
    """All gates of one decision; allowed only when every gate passed.

    >>> Verdict((GateResult("health", True, "3 x 200"),)).allowed
    True
    >>> v = Verdict((GateResult("health", True, ""), GateResult("schema", False, "x")))
    >>> v.allowed, [g.name for g in v.failed]
    (False, ['schema'])
    """

    gates: tuple[GateResult, ...]

    @property
    def allowed(self) -> bool:
        return all(gate.ok for gate in self.gates)

    @property
    def failed(self) -> tuple[GateResult, ...]:
        return tuple(gate for gate in self.gates if not gate.ok)

    def __add__(self, other: Verdict) -> Verdict:
        return Verdict(self.gates + other.gates)


def passed(name: str, detail: str) -> GateResult:
    return GateResult(name, True, detail)


def failed(name: str, detail: str) -> GateResult:
    return GateResult(name, False, detail)
