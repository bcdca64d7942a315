"""How numbers, shapes and dimensions are written as text: one place for every renderer and
for the core's messages (a memory refusal names bytes too), hence at the bottom layer."""

from __future__ import annotations

from collections.abc import Sequence

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


def plural(count: int, word: str) -> str:
    """``1 problem``, ``2 problems``."""
    return f"{count} {word}{'' if count == 1 else 's'}"
