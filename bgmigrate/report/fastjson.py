"""``json.dumps(value, indent=2)``, written without the standard library's pure-Python indenter.

With ``indent``, ``json`` encodes in Python one value at a time; a report of thousands of
findings spent more time there than in rendering. Strings go through the same C escaper
``json`` uses, so the text is identical; any value other than a dict, list, tuple, str, int,
bool or None (a float, a subclass, a non-string key) is written by ``json`` itself, at the
indentation it stands at, which gives the same text.

It writes the text to a stream as it goes, and an ``Items`` in the value stands for a list
whose items are made only as they are written: a report of tens of thousands of
findings never holds all their dicts, nor the whole text, at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO

_STRING = json.encoder.encode_basestring_ascii  # json's own escaper (C), as dumps uses by default
_FLUSH_PARTS = 8192  # pieces of text held before they are written out


class Items:
    """A list, for ``write_indented``, whose items are made as they are written.

    >>> import io
    >>> out = io.StringIO(); write_indented({"a": Items(lambda: ({"n": n} for n in range(2)))}, out)
    >>> out.getvalue() == json.dumps({"a": [{"n": 0}, {"n": 1}]}, indent=2)
    True
    """

    def __init__(self, make: Callable[[], Iterable[object]]) -> None:
        self._make = make

    def __iter__(self) -> Iterator[object]:
        return iter(self._make())


def write_indented(value: object, out: TextIO) -> None:
    """Write the text ``json.dumps(value, indent=2)`` gives to ``out``, a few thousand pieces at
    a time (an ``Items`` in ``value`` written as a list).

    >>> import io
    >>> doc = {"a": [1, "é\\n", None, True], "b": {}, "c": [], "d": {"e": (False,)}, "f": 1.5, 2: "y"}
    >>> out = io.StringIO(); write_indented(doc, out); out.getvalue() == json.dumps(doc, indent=2)
    True
    """
    parts = _Parts(out)
    _encode(value, "\n", parts)
    parts.flush()


class _Parts(list[str]):
    """Pieces of text, written to ``out`` whenever enough have gathered."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out = out

    def flush(self) -> None:
        self.out.write("".join(self))
        self.clear()

    def maybe_flush(self) -> None:
        if len(self) >= _FLUSH_PARTS:
            self.flush()


def _encode(value: object, newline: str, parts: _Parts) -> None:
    """Append ``value``'s text at the indentation ``newline`` ends with."""
    if type(value) is str:
        parts.append(_STRING(value))
    elif value is None:
        parts.append("null")
    elif value is True or value is False:
        parts.append("true" if value else "false")
    elif type(value) is int:
        parts.append(int.__repr__(value))
    elif type(value) is dict and all(type(key) is str for key in value):
        _encode_dict(value, newline, parts)
    elif type(value) is list or type(value) is tuple or type(value) is Items:
        _encode_list(value, newline, parts)
    else:
        # json writes it (a float, a subclass, a non-string key): at this depth, each of its
        # new lines carries this depth's indentation, as in json's text of the whole value.
        parts.append(json.dumps(value, indent=2).replace("\n", newline))


def _encode_dict(value: dict[str, object], newline: str, parts: _Parts) -> None:
    if not value:
        parts.append("{}")
        return
    inner = newline + "  "
    separator = "{" + inner
    for key, item in value.items():
        parts.append(separator)
        parts.append(_STRING(key))
        parts.append(": ")
        _encode(item, inner, parts)
        separator = "," + inner
    parts.append(newline + "}")


def _encode_list(value: Iterable[object], newline: str, parts: _Parts) -> None:
    inner = newline + "  "
    separator = "[" + inner
    for item in value:
        parts.append(separator)
        _encode(item, inner, parts)
        separator = "," + inner
        parts.maybe_flush()
    parts.append("[]" if separator.startswith("[") else newline + "]")
