"""What a broken rule looks like: its id (:class:`Rule`), message and place, and the helpers
that word the messages. The bottom of the package: reading files and checking specs both
report in these terms."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from enum import Enum


class Rule(str, Enum):
    """Every rule id ``rnnshape check`` reports: ``rule`` in the JSON document."""

    # The file and where the specs are in it (files.find_specs).
    FILE = "file"  # a missing file, a directory or an unsupported suffix
    PARSE = "parse"
    EMPTY = "empty"
    NOT_A_MAPPING = "not_a_mapping"
    KEY = "key"  # --key names nothing in the file
    # One spec's keys (rules.check_spec).
    TYPE = "type"
    UNKNOWN_KEY = "unknown_key"
    WRONG_TYPE = "wrong_type"
    VALUE = "value"
    # With --run: torch and the formulas disagree.
    VERIFY = "verify"
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


def describe(value: object) -> str:
    """What a value is, for messages: ``a list``, ``a string ('lstm')``."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean ({value!r})"
    if isinstance(value, (int, float)):
        return f"a number ({value!r})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'hidden_size'?)`` for a near miss, ignoring case; else ``""``."""
    folded = {c.lower(): c for c in choices}
    close = get_close_matches(str(word).lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def config_list_text(items: Sequence[object]) -> str:
    """``[5, null, 40]``: a shape (or a list of sizes) as a config file writes it."""
    return "[" + ", ".join("null" if d is None else repr(d) for d in items) + "]"
