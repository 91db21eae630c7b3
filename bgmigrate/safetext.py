"""Display text that is safe in SQL comments, file names, Markdown, logs and terminals.

Names from a live schema or a migration may hold newlines, carriage returns, escape sequences
and ``*/``. Copied raw into a ``-- comment`` the text after a newline becomes a statement; into
a ``/* comment */`` a ``*/`` ends it early; on a terminal an escape sequence rewrites the
screen. ``display`` is the one function all such text goes through: it keeps printable text
as it is and writes every character Python does not call printable (controls, bidi overrides,
zero-width marks, line separators, spaces other than " ") as a visible backslash escape, and
breaks up ``/*`` and ``*/``.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def printable(text: str, keep: str = "") -> str:
    """``text`` with every character Python does not call printable escaped, but those in ``keep``.

    For text shown as it is written (a file's lines in a code frame), where ``/*`` is only text.

    >>> printable("a\\tb\\x1b[31m", keep="\\t")
    'a\\tb\\\\x1b[31m'
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in keep else _escape(c) for c in text)


def display(text: str) -> str:
    """``text`` on one line, with nothing that could end a comment or control a terminal.

    >>> display("x\\nDROP TABLE t; --*/")
    'x\\\\nDROP TABLE t; --*\\\\/'
    >>> display("naïve café"), display("a\\u202eb")
    ('naïve café', 'a\\\\u202eb')
    """
    if text.isprintable() and "*/" not in text and "/*" not in text:
        return text  # the common case, without a per-character walk
    # Not printable (Python's rule): controls, format characters such as bidi overrides and
    # zero-width marks, line and paragraph separators, odd spaces, unassigned code points.
    out = printable(text)
    return out.replace("*/", "*\\/").replace("/*", "/\\*")


def display_lines(text: str) -> str:
    """Each line of ``text`` through ``display``: for text whose own line breaks are its layout
    (a fix's numbered steps); the rest cannot end or forge a line.

    >>> display_lines("1. a\\n2. b\\x1b[2J")
    '1. a\\n2. b\\\\x1b[2J'
    """
    return "\n".join(display(line) for line in text.split("\n"))


def comment(text: str) -> str:
    """A ``--`` comment line carrying ``text``.

    >>> comment("keeps a\\nb")
    '-- keeps a\\\\nb'
    """
    return "-- " + display(text)
