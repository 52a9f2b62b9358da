"""Text as the API accepts and stores it: JSON nesting depth, what is not text (lone
surrogates, control characters), and values made storable whatever a request carried."""

from __future__ import annotations

import unicodedata
from typing import Any

#: The deepest nesting of objects and arrays a JSON body may have.
MAX_JSON_DEPTH = 32
#: Control characters a text may hold: tab, line feed, carriage return (multi-line notes).
ALLOWED_CONTROLS = frozenset("\t\n\r")


def json_depth(body: bytes) -> int:
    """The deepest nesting of ``[``/``{`` in ``body``, brackets inside strings ignored
    (or, when that is small anyway, the number of brackets: an upper bound)."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return body.count(b"[") + body.count(b"{")  # an upper bound, and small: no scan
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def bad_character(text: str) -> str | None:
    """What is wrong with ``text`` in words, or None: a lone surrogate or a control."""
    for ch in text:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            return f"lone surrogate U+{code:04X} is not text"
        if ch not in ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc":
            return f"control character U+{code:04X} is not allowed"
    return None



def storable_text(text: str) -> str:
    """``text`` as any database can store it: lone surrogates and NUL written as escapes."""
    if text.isascii() and "\x00" not in text:
        return text
    return (text.encode("utf-8", "backslashreplace").decode("utf-8")
            .replace("\x00", "\\x00"))


def storable(value: Any, depth: int = MAX_JSON_DEPTH) -> Any:
    """A JSON value with every text made :func:`storable_text`, cut below ``depth``."""
    if isinstance(value, str):
        return storable_text(value)
    if depth <= 0 and isinstance(value, dict | list):
        return "…"
    if isinstance(value, dict):
        return {storable_text(str(k)): storable(v, depth - 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth - 1) for v in value]
    return value
