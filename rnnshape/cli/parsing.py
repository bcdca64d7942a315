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
# torch keeps every size in a 64-bit integer (and ``check`` refuses larger numbers in a spec):
# beyond it a number is a typo, and products of such sizes would no longer print. Checked on
# the digits first: Python refuses to convert text of more than 4,300 digits at all.
LARGEST = 2**63 - 1
# A value typed is quoted up to this many characters (a message stays one readable line).
QUOTED = 120
# The same rule for numbers with a fraction or exponent: ASCII, no ``_``, no spaces; ``inf``
# (any case) for no limit. Python's ``float`` would take ``1_000``, `` 5`` and ``٥``.
_NUMBER = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|[iI][nN][fF]")


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
        raise SpecError(key, f"{quoted(text)} must be an integer (digits 0-9)", kind="wrong_type")
    return _bounded(key, text)


def _bounded(key: str, digits: str, item: str = "") -> int:
    """``digits`` (a sign and ASCII digits) as an int, refused beyond 64 bits."""
    magnitude = digits.lstrip("-").lstrip("0")
    if len(magnitude) <= len(str(LARGEST)) and int(magnitude or "0") <= LARGEST:
        return int(digits)
    shown = digits if len(digits) <= 30 else f"{digits[:12]}…{digits[-6:]}"
    raise SpecError(
        key,
        f"{item}{shown} ({len(magnitude):,} digits) is beyond the 64-bit integers torch uses "
        f"(at most {LARGEST:,})",
    )


def quoted(text: str) -> str:
    """``repr(text)``, cut to ``QUOTED`` characters around ``…`` when longer."""
    shown = repr(text)
    if len(shown) <= QUOTED:
        return shown
    return f"{shown[: QUOTED - 12]}…{shown[-11:]} ({len(text):,} characters)"


def number_text(text: str) -> str:
    """Typer's ``parser`` for a number given as text: keeps the text, checked later."""
    return text


number_text.__name__ = "float"


def parse_float(key: str, text: str | float | None) -> float | None:
    """``"0.5"`` → ``0.5`` under the integers' rule (ASCII digits, a point, an exponent).

    A value that is not zero but rounds to zero or to infinity is refused, quoting the text
    as typed: ``1e-400`` is not 0 to the user."""
    if text is None or isinstance(text, float):  # a default
        return text
    if _NUMBER.fullmatch(text) is None:
        raise SpecError(
            key, f"{text!r} must be a number (digits 0-9, e.g. 0.5 or 1e3)", kind="wrong_type"
        )
    value = float(text)
    if value == 0 and any(c in "123456789" for c in text.lower().split("e")[0]):
        raise SpecError(key, f"{text} is too small to tell from 0")
    if value in (float("inf"), float("-inf")) and "inf" not in text.lower():
        raise SpecError(key, f"{text} is too large for a number here")
    return value


def parse_int_list(key: str, text: str | None, example: str) -> list[int] | None:
    """``5,3,2`` → ``[5, 3, 2]``; the spec validates the values themselves."""
    if text is None:
        return None
    if not text.strip():
        return []  # the spec says why an empty list is refused
    values = []
    for part in text.split(","):
        if _INTEGER.fullmatch(part) is None:
            what = "an empty item" if not part.strip() else f"{quoted(part)} is not an integer"
            raise SpecError(
                key,
                f"{quoted(text)} must be comma-separated integers, e.g. {example} ({what})",
                kind="wrong_type",
            )
        values.append(_bounded(key, part, "item "))
    return values
