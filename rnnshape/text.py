"""How numbers, shapes and dimensions are written as text: one place for every renderer and
for the core's messages (a memory refusal names bytes too), hence at the bottom layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence

DOT = "·"  # the docs' D * H_out, written as a product


def shape_text(shape: Sequence[object]) -> str:
    """A shape as torch prints its size: ``(5, 3, 10)``, ``(80,)``, ``()``."""
    return tuple_text([str(n) for n in shape])


def tuple_text(items: Sequence[str]) -> str:
    """``("L", "N", "H_in")`` → ``(L, N, H_in)``; one item keeps Python's comma: ``(H,)``."""
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def product_text(factors: Sequence[object]) -> str:
    """``("D", "H_out")`` → ``D·H_out``: a dimension that is a product of factors."""
    return DOT.join(str(f) for f in factors)


def human_bytes(n: int) -> str:
    """``23680`` → ``23.1 KiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"


def short_count(n: int) -> str:
    """``84000`` → ``84.0 K``: a reading aid next to the exact integer."""
    for unit, size in (
        ("E", 10**18),
        ("P", 10**15),
        ("T", 10**12),
        ("G", 10**9),
        ("M", 10**6),
        ("K", 10**3),
    ):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return str(n)


def shorten(text: str, limit: int) -> str:
    """``text`` itself, or its start and end around ``…`` in ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return text[:head] + "…" + (text[len(text) - tail :] if tail else "")


def omitted_text(count: int, what: str) -> str:
    """The marker of an elided listing: ``… 999,000 parameters left out …``."""
    return f"… {count:,} {what} left out …"


def listing_text(items: Sequence[int], omitted: int, at: int) -> str:
    """``[3, 2, 1]``, or with ``omitted`` items marked at index ``at``:
    ``[3, 2, … 5 steps left out …, 1, 1]``."""
    if not omitted:
        return str(list(items))
    head = ", ".join(map(str, items[:at]))
    tail = ", ".join(map(str, items[at:]))
    return f"[{head}, {omitted_text(omitted, 'steps')}, {tail}]"


def plural(count: int, word: str) -> str:
    """``1 problem``, ``2 problems``."""
    return f"{count} {word}{'' if count == 1 else 's'}"


# What a terminal may obey rather than show: C0 and C1 controls and DEL (Cc), format
# characters such as the bidi overrides U+202E and U+2066 (Cf), the line and paragraph
# separators U+2028/U+2029 (Zl, Zp), and lone surrogates (Cs), which cannot be encoded.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(char: str, category: Callable[[str], str]) -> str:
    if char in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[char]
    if category(char) not in _UNSAFE_CATEGORIES:
        return char
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def one_line(text: str) -> str:
    """Text from a file or a flag, safe for one terminal line: ``\\x1b``, ``\\r``,
    ``\\u2028``, ``\\ud800`` written as such escapes; everything else, and a string without
    them, unchanged. Backslashes stay as they are, so escaping twice changes nothing."""
    if text.isprintable():  # the usual case; isprintable is False for every unsafe character
        return text
    from unicodedata import category  # only for text that needs it: start-up stays lean

    return "".join(_escape_char(c, category) for c in text)


def duration_text(seconds: float) -> str:
    """``0.4 ms``, ``12 ms``, ``0.4 s``, ``12 s``, ``5.8 min``, ``2.1 h``."""
    if seconds < 0.001:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
