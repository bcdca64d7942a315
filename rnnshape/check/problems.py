"""What a broken rule looks like: its id (:class:`Rule`), message and place, and the helpers
that word the messages. The bottom of the package: reading files and checking specs both
report in these terms."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from enum import Enum

# What a message repeats from a file is cut to this many characters (a value, a key, a name):
# a config is read up to 10 MiB, and a message must stay one short line whatever it quotes.
VALUE_CHARS = 60
# A message as a whole (one from the spec layer may quote a value in full) is cut to this.
MESSAGE_CHARS = 500
# Lists in messages (the keys a mapping has, the items of a list) show this many items.
LIST_ITEMS = 10


class Rule(str, Enum):
    """Every rule id ``rnnshape check`` reports: ``rule`` in the JSON document."""

    # The file and where the specs are in it (files.find_specs).
    FILE = "file"  # missing, not a regular file, too large, an unsupported suffix, a bare folder
    PARSE = "parse"  # not valid YAML/JSON/TOML, or beyond a reading limit (nesting, aliases)
    EMPTY = "empty"
    NOT_A_MAPPING = "not_a_mapping"
    KEY = "key"  # --key names nothing in the file
    # One spec's keys (rules.check_spec).
    TYPE = "type"
    UNKNOWN_KEY = "unknown_key"
    WRONG_TYPE = "wrong_type"
    VALUE = "value"
    NUMBER = "number"  # a YAML number that YAML 1.1 and 1.2 read differently (020, 1:30)
    # With --run: torch and the formulas disagree.
    VERIFY = "verify"
    # With --run: a guard refused the run (memory, time), or the check's --max-seconds was spent.
    RUN = "run"
    # An expectation the module does not meet: ``expect.<name>``, one per key of ``expect``.
    EXPECT_NUM_PARAMETERS = "expect.num_parameters"
    EXPECT_MAX_PARAMETERS = "expect.max_parameters"
    EXPECT_OUTPUT_FEATURES = "expect.output_features"
    EXPECT_INPUT = "expect.input"
    EXPECT_H_0 = "expect.h_0"
    EXPECT_C_0 = "expect.c_0"
    EXPECT_OUTPUT = "expect.output"
    EXPECT_H_N = "expect.h_n"
    EXPECT_C_N = "expect.c_n"
    EXPECT_H_1 = "expect.h_1"
    EXPECT_C_1 = "expect.c_1"


@dataclass(frozen=True)
class CheckProblem:
    """One broken rule: its id and message, and where (1-based) when the format tells."""

    rule: Rule
    message: str
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        if len(self.message) > MESSAGE_CHARS:
            object.__setattr__(self, "message", shorten(self.message, MESSAGE_CHARS))


def shorten(text: str, limit: int = VALUE_CHARS) -> str:
    """``text`` itself, or its start and end around ``…`` in ``limit`` characters."""
    if len(text) <= limit:
        return text
    head = (limit - 1) * 2 // 3
    tail = limit - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def int_text(value: int) -> str:
    """An integer for a message: in full when short, else ``1234…6789 (3000 digits)``."""
    if value.bit_length() > 40_000:  # beyond what str() may convert (4300 digits by default)
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1} digits"
    digits = str(value)
    if len(digits) <= VALUE_CHARS:
        return digits
    sign = "-" if value < 0 else ""
    bare = digits.lstrip("-")
    return f"{sign}{bare[:8]}…{bare[-8:]} ({len(bare)} digits)"


def value_text(value: object, limit: int = VALUE_CHARS) -> str:
    """``repr(value)`` for a message, shortened; never builds the repr of a large container."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return int_text(value)
    if isinstance(value, str):
        return repr(shorten(value, limit))
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        return _container_text(value, limit)
    return shorten(repr(value), limit)


def _container_text(value: object, limit: int) -> str:
    """The start of a list or mapping as flow text, at most ``limit`` characters: only as many
    items are visited as fit, whatever the size or depth of the container."""
    out: list[str] = []
    size = 0
    # Iterators on a stack stand in for recursion: nesting never deepens the Python stack.
    stack: list[tuple[Iterator[tuple[object, object]], str]] = []

    def open_(container: object) -> str:
        if isinstance(container, dict):
            stack.append((iter(container.items()), "}"))
            return "{"
        items: Iterable[object] = container if isinstance(container, Iterable) else ()
        pairs = ((_NO_KEY, item) for item in items)
        stack.append((pairs, "}" if isinstance(container, (set, frozenset)) else "]"))
        return "{" if isinstance(container, (set, frozenset)) else "["

    out.append(open_(value))
    size, first = 1, True
    while stack and size <= limit:
        items, close = stack[-1]
        pair = next(items, None)
        if pair is None:
            stack.pop()
            piece, first = close, False
        else:
            key, item = pair
            piece = "" if first else ", "
            if key is not _NO_KEY:
                piece += f"{value_text(key, limit)}: "
            if isinstance(item, (list, tuple, dict, set, frozenset)):
                piece += open_(item)
                first = True
            else:
                piece += "null" if item is None else value_text(item, limit)
                first = False
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= limit and not stack else text[: limit - 1] + "…"


_NO_KEY = object()  # a list item: no key before it


def describe(value: object) -> str:
    """What a value is, for messages: ``a list``, ``a string ('lstm')``."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value_text(value)})"
    if isinstance(value, str):
        return f"a string ({value_text(value)})"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'hidden_size'?)`` for a near miss, ignoring case; else ``""``."""
    folded = {c.lower(): c for c in choices}
    if not isinstance(word, str) or len(word) > 100:  # no near miss is that long
        return ""
    close = get_close_matches(word.lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def config_list_text(items: Sequence[object]) -> str:
    """``[5, null, 40]``: a shape (or a list of sizes) as a config file writes it, shortened."""
    return _container_text(list(items[: VALUE_CHARS + 1]), VALUE_CHARS) if items else "[]"


def names_text(names: Iterable[object], total: int) -> str:
    """``a, b, c`` (each shortened), the first few of ``total``: ``a, b, … (40 more)``."""
    shown: list[str] = []
    for name in names:
        if len(shown) == LIST_ITEMS:
            break
        shown.append(shorten(str(name) if isinstance(name, str) else value_text(name)))
    more = total - len(shown)
    return ", ".join(shown) + (f", … ({more} more)" if more > 0 else "") if shown else "none"
