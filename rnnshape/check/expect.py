"""A spec's ``expect`` mapping: which expectations are well-formed, and which a module misses.

Counts (``num_parameters``, ``max_parameters``, ``output_features``) and tensor shapes
(``output: [5, null, 40]``, ``null`` for any size), compared with a :class:`Report`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rnnshape.family import InputSpec, LayerSpec, Mode
from rnnshape.formulas import tensor_shapes
from rnnshape.report import Report

from .parsers import key_line
from .problems import (
    CheckProblem,
    Rule,
    config_list_text,
    describe,
    did_you_mean,
    shorten,
    value_text,
)

COUNT_EXPECTATIONS = ("num_parameters", "max_parameters", "output_features")


def output_name(mode: Mode) -> str:
    """``output`` for a layer, ``h_1`` for a cell: what the next layer receives."""
    return "h_1" if mode.is_cell else "output"


def tensor_names(mode: Mode) -> tuple[str, ...]:
    """The tensors going into and coming out of ``mode``'s forward pass, by name."""
    layer = LayerSpec(mode, 1, 2)
    inp = InputSpec(seq=None) if mode.is_cell else InputSpec()
    return tuple(t.name for t in tensor_shapes(layer, inp))


ALL_TENSORS = tuple(dict.fromkeys(n for m in Mode for n in tensor_names(m)))
# The rule each expectation breaks when the module misses it; built here so that a new tensor
# without its ``Rule.EXPECT_*`` fails at import, not in the middle of a check.
_RULES = {key: Rule(f"expect.{key}") for key in (*COUNT_EXPECTATIONS, *ALL_TENSORS)}


@dataclass(frozen=True)
class Expected:
    """The well-formed expectations of a spec, with the line of each."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)


def expectations(
    spec: Mapping[Any, Any], mode: Mode | None, problems: list[CheckProblem]
) -> Expected:
    """The well-formed expectations; a problem for each malformed one."""
    out = Expected()
    if "expect" not in spec:
        return out
    given = spec["expect"]
    if not isinstance(given, Mapping):
        message = (
            "expect must be a mapping (num_parameters, max_parameters, output_features, "
            f"or a tensor name and its shape), got {describe(given)}"
        )
        problems.append(CheckProblem(Rule.WRONG_TYPE, message, key_line(spec, "expect")))
        return out
    tensors = tensor_names(mode) if mode is not None else ALL_TENSORS
    for key, value in given.items():
        where = key_line(given, key)
        problem = _expectation_problem(key, value, mode, tensors)
        if problem is not None:
            problems.append(CheckProblem(problem[0], problem[1], where))
        else:
            out.values[key] = value
            out.lines[key] = where
    return out


def _expectation_problem(
    key: object, value: object, mode: Mode | None, tensors: Sequence[str]
) -> tuple[Rule, str] | None:
    """``(rule, message)`` for a malformed expectation, None for a well-formed one."""
    if key in COUNT_EXPECTATIONS:
        least = 1 if key == "output_features" else 0
        if isinstance(value, bool) or not isinstance(value, int):
            return Rule.WRONG_TYPE, f"expect.{key} must be an integer, got {describe(value)}"
        if value < least:
            return Rule.VALUE, f"expect.{key} {value} must be at least {least}"
        return None
    if key in tensors:
        dims_ok = isinstance(value, list) and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value
        )
        if not dims_ok:
            got = describe(value) if not isinstance(value, list) else config_list_text(value)
            return (
                Rule.WRONG_TYPE,
                f"expect.{key} must be a list of sizes (integers, or null for any size), got {got}",
            )
        return None
    if key in ALL_TENSORS and mode is not None:
        return (
            Rule.UNKNOWN_KEY,
            f"unknown key 'expect.{key}': nn.{mode.torch_class} has no tensor {key} "
            f"(its tensors: {', '.join(tensors)})",
        )
    hint = did_you_mean(key, (*COUNT_EXPECTATIONS, *tensors))
    name = shorten(key) if isinstance(key, str) else value_text(key)
    return Rule.UNKNOWN_KEY, f"unknown key 'expect.{name}'{hint}"


def unmet(expected: Expected, report: Report) -> list[CheckProblem]:
    """Problems for every expectation the module does not meet."""
    problems = []
    count = report.num_parameters
    for key, want in expected.values.items():
        where = expected.lines.get(key)
        rule = _RULES[key]
        if key == "num_parameters" and want != count:
            message = f"expect.num_parameters is {want}, the module has {count}"
            problems.append(CheckProblem(rule, message, where))
        elif key == "max_parameters" and count > want:
            message = (
                f"expect.max_parameters is {want}, the module has {count} "
                f"({count - want} over budget)"
            )
            problems.append(CheckProblem(rule, message, where))
        elif key == "output_features":
            name = output_name(report.spec.mode)
            shape = report.tensor(name).tensor.shape
            if shape[-1] != want:
                message = (
                    f"expect.output_features is {want}, the module gives {shape[-1]} "
                    f"(the last dimension of {name} {config_list_text(shape)})"
                )
                problems.append(CheckProblem(rule, message, where))
        elif key not in COUNT_EXPECTATIONS:
            shape = report.tensor(key).tensor.shape
            want_text, has_text = config_list_text(want), config_list_text(shape)
            if len(want) != len(shape):
                message = (
                    f"expect.{key} is {want_text} (rank {len(want)}), "
                    f"{key} has shape {has_text} (rank {len(shape)})"
                )
                problems.append(CheckProblem(rule, message, where))
            elif any(w is not None and w != d for w, d in zip(want, shape, strict=True)):
                message = f"expect.{key} is {want_text}, {key} has shape {has_text}"
                problems.append(CheckProblem(rule, message, where))
    return problems
