"""The ``{env}`` placeholder in a PromQL query: where it may stand, and how it is filled in.

The placeholder is only replaced inside double-quoted PromQL strings, where the value is
escaped as PromQL (Go) string syntax requires: whatever the environment is called, it stays a
string and cannot change the query around it.
"""

from __future__ import annotations

from collections.abc import Iterator

PLACEHOLDER = "{env}"


def _outside_double_quotes(query: str) -> Iterator[int]:
    """Offsets of ``{env}`` that are not inside a double-quoted string (comments skipped)."""
    quote = ""
    i = 0
    while i < len(query):
        char = query[i]
        if quote != '"' and query.startswith(PLACEHOLDER, i):
            yield i
        if quote:
            if char == "\\" and quote != "`":
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif char == "#":
            end = query.find("\n", i)
            i = len(query) if end < 0 else end
            continue
        i += 1


def env_placement_problem(query: str) -> str | None:
    """Why ``{env}`` cannot be filled in safely here, or None.

    >>> env_placement_problem('sum(rate(x{env="{env}"}[1m]))') is None
    True
    >>> print(env_placement_problem("x{env='{env}'}"))
    {env} must stand inside a double-quoted string, e.g. env="{env}" (found at offset 7)
    """
    for offset in _outside_double_quotes(query):
        return f'{PLACEHOLDER} must stand inside a double-quoted string, e.g. env="{PLACEHOLDER}" (found at offset {offset})'
    return None


def escape(value: str) -> str:
    """``value`` as the inside of a double-quoted PromQL string.

    >>> escape('a"b\\\\c\\n')
    'a\\\\"b\\\\\\\\c\\\\x0a'
    """
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def fill_env(query: str, env: str) -> str:
    """``query`` with every ``{env}`` replaced by ``env``, escaped (the placement was checked at load).

    >>> fill_env('x{env="{env}"}', 'gr"een')
    'x{env="gr\\\\"een"}'
    """
    if env_placement_problem(query):
        raise ValueError(env_placement_problem(query))
    return query.replace(PLACEHOLDER, escape(env))
