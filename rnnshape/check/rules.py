"""Validate one spec: its ``type``, torch keywords, ``input`` and ``expect``, reporting every
broken rule (not just the first), then build its report and test its expectations.

Without a run, nothing here imports torch: the counts and shapes come from the same formulas
as ``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rnnshape.errors import VerificationError
from rnnshape.family import INPUT_KEYS, TORCH_KEYS, Dtype, InputSpec, LayerSpec, Mode
from rnnshape.family.layer import input_problems, spec_problems
from rnnshape.pipeline import build_report, run_report
from rnnshape.report import Report

from .expect import COUNT_EXPECTATIONS, expectations, unmet
from .parsers import AmbiguousNumber, item_line, key_line
from .problems import CheckProblem, Rule, describe, did_you_mean, int_text, shorten, value_text

if TYPE_CHECKING:
    from rnnshape.family.options import RunOptions

_REQUIRED = ("input_size", "hidden_size")
# SpecError.kind → the rule it breaks.
_KIND_RULE = {"wrong_type": Rule.WRONG_TYPE, "value": Rule.VALUE, "unsupported": Rule.UNKNOWN_KEY}
_INPUT_NAMES = {k: f"input.{k}" for k in INPUT_KEYS}
# ``type`` as config files spell it: rnn, ..., lstm_cell.
_TYPE_NAMES = tuple(m.value.replace("-", "_") for m in Mode)
# torch keeps every size in a 64-bit integer: a larger number in a spec is a mistake, and
# refusing it first keeps the formulas' numbers (products of sizes) small enough to print.
_LARGEST = 2**63 - 1


def check_spec(
    value: object, line: int | None = None, run: RunOptions | None = None
) -> tuple[list[CheckProblem], str | None, Report | None]:
    """Validate one spec mapping; return its problems, its torch class and (if valid) report."""
    if not isinstance(value, Mapping):
        message = (
            f"a spec must be a mapping (type, input_size, hidden_size, ...), got {describe(value)}"
        )
        return [CheckProblem(Rule.NOT_A_MAPPING, message, line)], None, None
    problems = _number_problems(value, line)
    if problems:  # a number whose value is in doubt: nothing else can be checked reliably
        return problems, None, None
    mode = _mode(value, line, problems)
    kwargs = _torch_kwargs(value, mode, line, problems)
    if mode is None:
        _input(value, None, problems)
        expectations(value, None, problems)
        return problems, None, None
    spec = _layer_spec(value, mode, kwargs, problems)
    inp = _input(value, mode, problems)
    expect = expectations(value, mode, problems)
    if problems or spec is None or inp is None:
        return problems, mode.torch_class, None
    if run is None:
        report = build_report(spec, inp, device="cpu", dtype=Dtype.FLOAT32.value, seed=None)
    else:
        try:
            report = run_report(spec, inp, run)
        except VerificationError as exc:
            problems.append(CheckProblem(Rule.VERIFY, exc.message, line))
            return problems, mode.torch_class, None
    problems += unmet(expect, report)
    return problems, mode.torch_class, report


def _number_problems(spec: Mapping[Any, Any], line: int | None) -> list[CheckProblem]:
    """A problem for each number in ``spec`` (at any depth) that YAML versions read differently
    (``020``, ``1:30``) or that no 64-bit integer holds. Each value is visited once: values an
    alias repeats are one object."""
    problems: list[CheckProblem] = []
    seen: set[int] = set()
    stack: list[tuple[object, str, int | None]] = [(spec, "", line)]
    while stack:
        value, where, at = stack.pop()
        if isinstance(value, (dict, list)):
            if id(value) in seen:
                continue
            seen.add(id(value))
            if isinstance(value, dict):
                children = [
                    (v, f"{where}.{_name(k)}" if where else _name(k), key_line(value, k) or at)
                    for k, v in value.items()
                ]
                children += [(k, f"a key of {where}" if where else "a key", at) for k in value]
            else:
                children = [
                    (v, f"{where}[{i}]", item_line(value, i) or at) for i, v in enumerate(value)
                ]
            stack.extend(reversed(children))
        elif isinstance(value, AmbiguousNumber):
            message = f"{where or 'the value'}: {value.explain()}"
            problems.append(CheckProblem(Rule.NUMBER, message, value.line, value.column))
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST:
            message = (
                f"{where or 'the value'} is {int_text(value)}: beyond the 64-bit integers torch "
                f"uses (at most {_LARGEST})"
            )
            problems.append(CheckProblem(Rule.VALUE, message, at))
    return problems


def _name(key: object) -> str:
    return shorten(key) if isinstance(key, str) else value_text(key)


def _mode(spec: Mapping[Any, Any], line: int | None, problems: list[CheckProblem]) -> Mode | None:
    names = ", ".join(_TYPE_NAMES)
    if "type" not in spec:
        problems.append(CheckProblem(Rule.TYPE, f"missing key 'type' (one of {names})", line))
        return None
    kind = spec["type"]
    where = key_line(spec, "type")
    if not isinstance(kind, str):
        message = f"type must be one of {names}, got {describe(kind)}"
        problems.append(CheckProblem(Rule.TYPE, message, where))
        return None
    try:
        return Mode.parse(kind)
    except ValueError:
        message = (
            f"unknown type {value_text(kind)}{did_you_mean(kind, _TYPE_NAMES)}: one of {names}"
        )
        problems.append(CheckProblem(Rule.TYPE, message, where))
        return None


def _torch_kwargs(
    spec: Mapping[Any, Any], mode: Mode | None, line: int | None, problems: list[CheckProblem]
) -> dict[str, Any]:
    """The torch keywords given, with problems for unknown keys, nulls and missing sizes."""
    kwargs: dict[str, Any] = {}
    valid = ("type", *(mode.kwargs if mode else TORCH_KEYS), "input", "expect")
    for key, value in spec.items():
        where = key_line(spec, key)
        if key in ("type", "input", "expect"):
            continue
        if key not in TORCH_KEYS:
            problems.append(CheckProblem(Rule.UNKNOWN_KEY, _unknown_key(key, valid), where))
        elif value is None:
            message = f"{key} is null: give a value or leave the key out"
            problems.append(CheckProblem(Rule.WRONG_TYPE, message, where))
        else:
            kwargs[key] = value
    if mode is not None:
        for key in _REQUIRED:
            if key not in spec:
                message = (
                    f"missing key {key!r}: nn.{mode.torch_class} needs input_size and hidden_size"
                )
                problems.append(CheckProblem(Rule.VALUE, message, line))
    return kwargs


def _unknown_key(key: object, valid: Sequence[str]) -> str:
    if key in INPUT_KEYS:
        return f"unknown key {key!r} (input sizes go under input: input.{key})"
    if key in COUNT_EXPECTATIONS:
        return f"unknown key {key!r} (expectations go under expect: expect.{key})"
    return f"unknown key {value_text(key)}{did_you_mean(key, valid)}"


def _layer_spec(
    spec: Mapping[Any, Any], mode: Mode, kwargs: dict[str, Any], problems: list[CheckProblem]
) -> LayerSpec | None:
    """The spec of the given keywords, reporting every key it breaks (one validation pass)."""
    args = dict(kwargs)
    missing = {key for key in _REQUIRED if key not in args}  # already reported as missing
    sizes = [args.pop(key, None) for key in _REQUIRED]
    built, found = spec_problems(mode, *sizes, **args)
    for exc in found:
        if exc.param not in missing:
            rule = _KIND_RULE[exc.kind]
            problems.append(CheckProblem(rule, str(exc), key_line(spec, exc.param)))
    return None if missing else built


def _input(
    spec: Mapping[Any, Any], mode: Mode | None, problems: list[CheckProblem]
) -> InputSpec | None:
    """The validated input, reporting every rule it breaks; None where it is invalid.

    Without a mode (``type`` is broken) only the keys themselves are checked."""
    if "input" not in spec:
        return input_problems(mode)[0] if mode is not None else None
    given = spec["input"]
    where = key_line(spec, "input")
    if not isinstance(given, Mapping):
        message = f"input must be a mapping (seq, batch, unbatched, lengths), got {describe(given)}"
        problems.append(CheckProblem(Rule.WRONG_TYPE, message, where))
        return None
    args: dict[str, Any] = {}
    broken = False
    for key, value in given.items():
        if key not in INPUT_KEYS:
            message = f"unknown key 'input.{_name(key)}'{did_you_mean(key, INPUT_KEYS)}"
            problems.append(CheckProblem(Rule.UNKNOWN_KEY, message, key_line(given, key)))
            broken = True
        elif value is None:
            message = f"input.{_name(key)} is null: give a value or leave the key out"
            problems.append(CheckProblem(Rule.WRONG_TYPE, message, key_line(given, key)))
            broken = True
        else:
            args[key] = value
    if mode is None:
        return None
    inp, found = input_problems(mode, **args)
    for exc in found:
        rule = _KIND_RULE[exc.kind]
        problems.append(CheckProblem(rule, exc.render(_INPUT_NAMES), key_line(given, exc.param)))
    return None if broken else inp
