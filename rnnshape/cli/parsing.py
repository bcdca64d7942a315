"""Integers on the command line: ASCII digits only, parsed here with messages that name the
flag, and shown in ``--help`` as ``<int>``.

Click's own integer type would accept ``١٠``, ``1_000`` and `` 10 `` (Python's ``int``
does) and answer ``-1`` or ``--typo`` with its own wording; so the values arrive as text
and the command parses them with ``parse_int``.
"""

from __future__ import annotations

import re

from rnnshape.errors import SpecError

_INTEGER = re.compile(r"-?[0-9]+")  # ASCII digits only (re's \d matches any Unicode digit)


def integer_text(text: str) -> str:
    """Typer's ``parser`` for an integer given as text: keeps the text, checked later."""
    return text


# Typer shows a parser's name as the value's type in --help: ``<int>``.
integer_text.__name__ = "int"


def parse_int(key: str, text: str | int | None) -> int | None:
    """``"10"`` → ``10``; a sign and ASCII digits only, nothing else (the spec checks ranges)."""
    if text is None or isinstance(text, int):  # a default
        return text
    if _INTEGER.fullmatch(text) is None:
        raise SpecError(key, f"{text!r} must be an integer (digits 0-9)", kind="wrong_type")
    return int(text)


def parse_int_list(key: str, text: str | None, example: str) -> list[int] | None:
    """``5,3,2`` → ``[5, 3, 2]``; the spec validates the values themselves."""
    if text is None:
        return None
    if not text.strip():
        return []  # the spec says why an empty list is refused
    values = []
    for part in text.split(","):
        if _INTEGER.fullmatch(part) is None:
            what = "an empty item" if not part.strip() else f"{part!r} is not an integer"
            raise SpecError(
                key,
                f"{text!r} must be comma-separated integers, e.g. {example} ({what})",
                kind="wrong_type",
            )
        values.append(int(part))
    return values
