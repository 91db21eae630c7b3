"""What the proxy really routes now, read from the proxy itself (not from the switch state).

After a crash (kill -9, a lost database session) the state and the proxy may disagree;
``status`` shows both, and ``rollback`` / ``reconcile`` make them agree again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Observed:
    """Each environment's share of new requests (percent) as the proxy reports it.

    ``shares`` is None when the routing could not be read; ``detail`` then says why.
    """

    shares: Mapping[str, int] | None
    detail: str
    unknown: tuple[str, ...] = field(default=())  # servers taking traffic that belong to no environment

    @property
    def known(self) -> bool:
        return self.shares is not None

    def only(self, name: str) -> bool:
        """Does all traffic go to ``name`` (and nowhere else)?"""
        return (
            self.shares is not None and not self.unknown and {k: v for k, v in self.shares.items() if v} == {name: 100}
        )

    def describe(self) -> str:
        """``blue 100%``, ``blue 50%, green 50%``, or why it is unknown.

        >>> Observed({"blue": 40, "green": 60}, "").describe()
        'blue 40%, green 60%'
        """
        if self.shares is None:
            return f"unknown ({self.detail})"
        taking = [f"{name} {share}%" for name, share in sorted(self.shares.items()) if share]
        taking += [f"{server} (no environment)" for server in self.unknown]
        return ", ".join(taking) or "no server takes traffic"


def shares_of(weights: Mapping[str, int]) -> dict[str, int]:
    """Percent shares from weights, rounded; all zero when nothing has weight.

    >>> shares_of({"blue": 90, "green": 10})
    {'blue': 90, 'green': 10}
    >>> shares_of({"blue": 0, "green": 0})
    {'blue': 0, 'green': 0}
    """
    total = sum(weights.values())
    return {name: (round(100 * w / total) if total else 0) for name, w in weights.items()}


def drift(active: str | None, observed: Observed) -> str | None:
    """How the proxy disagrees with the state's active environment, or None when they agree."""
    if active is None or not observed.known:
        return None
    if observed.only(active):
        return None
    return f"state says {active} is active; the proxy routes {observed.describe()}"
