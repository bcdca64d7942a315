"""YAML scalars whose reading is in doubt, kept so that the rules can say so: a number that
YAML 1.1 and 1.2 read differently (:class:`AmbiguousNumber`), a word only YAML 1.1 reads as a
boolean (:class:`OldBoolean`), and an integer beyond 64 bits, hashed so that keys cannot all
collide (:class:`WideInt`)."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

# No stubs in the dev extras; unused-ignore keeps it quiet where types-PyYAML is installed.
import yaml  # type: ignore[import-untyped,unused-ignore]


class OldBoolean(NamedTuple):
    """A value YAML 1.1 (PyYAML) reads as a boolean and YAML 1.2 as a string: ``yes``, ``off``."""

    text: str
    line: int
    column: int

    def explain(self, value: bool) -> str:
        """``yes reads as true in YAML 1.1 (this reader) and as the string 'yes' in ...``."""
        word = "true" if value else "false"
        return (
            f"{shorten_number(self.text)} reads as {word} in YAML 1.1 (as here) and as the "
            f"string {shorten_number(self.text)!r} in YAML 1.2: write {word}, or quote it for text"
        )


class AmbiguousNumber(str):
    """A YAML scalar that YAML 1.1 (PyYAML) and YAML 1.2 read differently, or that is written
    other than in plain decimal (``020``, ``1:30``, ``0x14``, ``1_000``, ``1e5``): its text."""

    line: int | None = None
    column: int | None = None

    def explain(self) -> str:
        """``020 reads as 16 in YAML 1.1 (octal) and as 20 in YAML 1.2: write 16 or 20``."""
        text = shorten_number(str(self))
        if len(self) > LONGEST_READ:
            return f"{text} is a number not written in plain decimal: write it in plain decimal"
        old, new = yaml11_reading(self), yaml12_reading(self)
        bare = self.lstrip("+-")
        base12 = {"0o": "octal", "0x": "hexadecimal"}.get(bare[:2])
        numbers = [v for v in (old, new) if v is not None]
        if old == new and old is not None:
            reads = f"reads as {_reading_text(old, _base_name(self))}"
        else:
            reads = (
                f"reads as {_reading_text(old, _base_name(self))} in YAML 1.1 "
                f"and as {_reading_text(new, base12)} in YAML 1.2"
            )
        ways = " or ".join(dict.fromkeys(_number_text(v) for v in numbers))
        write = f"write {ways} in plain decimal" if ways else "write the number in plain decimal"
        return f"{text} {reads}: {write}, or quote it for text"


def shorten_number(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}…{text[-8:]} ({len(text)} characters)"


LONGEST_READ = 40  # longer number forms are named, not converted (1:2:3:... grows quadratically)
DECIMAL_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
DECIMAL_FLOAT = re.compile(
    r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)


def yaml11_reading(text: str) -> int | float | None:
    """What PyYAML (YAML 1.1) reads ``text`` as; None for a string (or one too long to read)."""
    if len(text) > LONGEST_READ:
        return None
    node = yaml.ScalarNode("", text)
    resolver: Any = yaml.resolver.Resolver()
    resolved = resolver.resolve(yaml.ScalarNode, text, (True, False))
    node.tag = resolved
    constructor = yaml.constructor.SafeConstructor()
    try:
        if resolved == "tag:yaml.org,2002:int":
            return int(constructor.construct_yaml_int(node))
        if resolved == "tag:yaml.org,2002:float":
            return float(constructor.construct_yaml_float(node))
    except ValueError:
        return None
    return None


def yaml12_reading(text: str) -> int | float | None:
    """What a YAML 1.2 (core schema) reader reads ``text`` as; None for a string."""
    if len(text) > LONGEST_READ:
        return None
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"0o[0-7]+", text):
        return int(text[2:], 8)
    if re.fullmatch(r"0x[0-9a-fA-F]+", text):
        return int(text[2:], 16)
    if re.fullmatch(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", text):
        return float(text)
    return None


def _base_name(text: str) -> str | None:
    """The base YAML 1.1 reads ``text`` in, where not ten."""
    bare = text.lstrip("+-")
    if ":" in bare:
        return "base 60"
    for prefix, name in (("0b", "binary"), ("0x", "hexadecimal"), ("0o", "octal")):
        if bare.startswith(prefix):
            return name
    if len(bare) > 1 and bare[0] == "0" and bare[1] != ".":
        return "octal"
    return None


def _number_text(value: int | float) -> str:
    return repr(value)


def _reading_text(value: int | float | None, base: str | None) -> str:
    if value is None:
        return "a string"
    return f"{_number_text(value)} ({base})" if base else _number_text(value)


class WideInt(int):
    """An integer beyond 64 bits, as a YAML file gives it: hashed from its bytes.

    Python hashes an int as its value modulo 2**61 - 1, so a file could give thousands of
    mapping keys that all hash alike (``k + n * (2**61 - 1)``) and make building the mapping
    quadratic. Within 64 bits at most nine integers share a hash; wider ones hash here from
    all their bits, with the seeded hash of bytes. Equal WideInts hash alike, so mappings of
    them work; a plain int never equals-and-hashes like one, so lookups go through
    :func:`file_int`.
    """

    def __hash__(self) -> int:
        return hash(self.to_bytes((self.bit_length() + 8) // 8, "little", signed=True))


_WIDEST_PLAIN = 2**63


def file_int(value: int) -> int:
    """``value`` as the parsers keep an integer from a file: a WideInt beyond 64 bits."""
    return WideInt(value) if not -_WIDEST_PLAIN <= value < _WIDEST_PLAIN else value
