"""``json.dumps(value, indent=2)``, written without the standard library's pure-Python indenter.

With ``indent``, ``json`` encodes in Python one value at a time; a report of thousands of
findings spent more time there than in rendering. Strings go through the same C escaper
``json`` uses, so the text is identical; any value other than a dict, list, tuple, str, int,
bool or None (a float, a subclass, a non-string key) hands the whole value back to ``json``.
"""

from __future__ import annotations

import json

_STRING = json.encoder.encode_basestring_ascii  # json's own escaper (C), as dumps uses by default


def dumps_indented(value: object) -> str:
    """The text ``json.dumps(value, indent=2)`` gives.

    >>> doc = {"a": [1, "é\\n", None, True], "b": {}, "c": [], "d": {"e": (False,)}}
    >>> dumps_indented(doc) == json.dumps(doc, indent=2)
    True
    >>> dumps_indented({"x": 1.5}) == json.dumps({"x": 1.5}, indent=2)
    True
    """
    parts: list[str] = []
    if not _encode(value, "\n", parts):
        return json.dumps(value, indent=2)
    return "".join(parts)


def _encode(value: object, newline: str, parts: list[str]) -> bool:
    """Append ``value``'s text at the indentation ``newline`` ends with; False if not handled here."""
    if isinstance(value, str):
        parts.append(_STRING(value))
    elif value is None:
        parts.append("null")
    elif value is True or value is False:
        parts.append("true" if value else "false")
    elif type(value) is int:
        parts.append(int.__repr__(value))
    elif type(value) is dict:
        return _encode_dict(value, newline, parts)
    elif type(value) is list or type(value) is tuple:
        return _encode_list(value, newline, parts)
    else:
        return False
    return True


def _encode_dict(value: dict[object, object], newline: str, parts: list[str]) -> bool:
    if not value:
        parts.append("{}")
        return True
    inner = newline + "  "
    separator = "{" + inner
    for key, item in value.items():
        if not isinstance(key, str):
            return False  # json turns such keys into strings its own way
        parts.append(separator)
        parts.append(_STRING(key))
        parts.append(": ")
        if not _encode(item, inner, parts):
            return False
        separator = "," + inner
    parts.append(newline + "}")
    return True


def _encode_list(value: list[object] | tuple[object, ...], newline: str, parts: list[str]) -> bool:
    if not value:
        parts.append("[]")
        return True
    inner = newline + "  "
    separator = "[" + inner
    for item in value:
        parts.append(separator)
        if not _encode(item, inner, parts):
            return False
        separator = "," + inner
    parts.append(newline + "]")
    return True
