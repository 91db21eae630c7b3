"""How big a table is, as a live database or a snapshot reports it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TableSize:
    """Estimated rows and bytes of a table, as a live database or snapshot reports them."""

    table: str
    rows: int
    bytes: int | None = None

    def describe(self) -> str:
        """``orders: ~48 M rows, 12 GB``.

        >>> TableSize("orders", 48_000_000, 12 * 1024**3).describe()
        'orders: ~48 M rows, 12 GB'
        """
        text = f"{self.table}: ~{_human(self.rows, 1000, ['', ' k', ' M', ' G'])} rows"
        if self.bytes is not None:
            text += f", {_human(self.bytes, 1024, [' B', ' kB', ' MB', ' GB', ' TB'])}"
        return text


def _human(value: int, step: int, units: list[str]) -> str:
    amount = float(value)
    for unit in units:
        if amount < step or unit == units[-1]:
            return f"{amount:.0f}{unit}" if amount >= 10 or unit == units[0] else f"{amount:.1f}{unit}"
        amount /= step
    return str(value)
