"""``rnnshape check``: validate the specs found in config files and test their expectations.

Returns result objects, never prints. Without a run, nothing here imports torch: the counts and
shapes come from the same formulas as ``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any

from rnnshape.config import Entry, Problem, describe, find_specs, key_line
from rnnshape.errors import SpecError, UsageError, VerificationError
from rnnshape.formulas import tensor_shapes
from rnnshape.pipeline import build_report, inspect
from rnnshape.report import Report
from rnnshape.spec import INPUT_KEYS, Dtype, InputSpec, LayerSpec, Mode, make_input, make_spec

__all__ = [
    "CheckRun",
    "Problem",
    "RunOptions",
    "SpecResult",
    "check_entry",
    "check_files",
    "check_spec",
]

# Every torch keyword any of the six classes takes, in signature order.
TORCH_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for m in Mode for k in m.kwargs))
SPEC_KEYS: tuple[str, ...] = ("type", *TORCH_KEYS, "input", "expect")
COUNT_EXPECTATIONS = ("num_parameters", "max_parameters", "output_features")
_REQUIRED = ("input_size", "hidden_size")
# Stand-ins for a missing or broken size, so that the other keys are still checked; a huge
# hidden_size never makes proj_size look too large.
_STAND_IN = {"input_size": 1, "hidden_size": 2**62}
_KIND_RULE = {"wrong_type": "wrong_type", "value": "value", "unsupported": "unknown_key"}
_INPUT_NAMES = {k: f"input.{k}" for k in INPUT_KEYS}
_RUN_OPTION_NAMES = {"device": "--device", "dtype": "--dtype"}


@dataclass(frozen=True)
class RunOptions:
    """With ``--run``: build each module in torch on ``device`` at ``dtype``."""

    device: str = "cpu"
    dtype: Dtype = Dtype.FLOAT32


@dataclass(frozen=True)
class SpecResult:
    """The outcome for one spec (or for a file or document that held none)."""

    file: str
    document: int | None
    name: str | None
    label: str
    problems: tuple[Problem, ...]
    module: str | None = None  # the torch class, when ``type`` was understood
    report: Report | None = None  # None unless the spec and its input are valid
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def num_parameters(self) -> int | None:
        return self.report.num_parameters if self.report is not None else None

    @property
    def output_name(self) -> str | None:
        """``output`` for a layer, ``h_1`` for a cell: what the next layer receives."""
        if self.report is None:
            return None
        return "h_1" if self.report.spec.mode.is_cell else "output"

    @property
    def output_shape(self) -> tuple[int, ...] | None:
        name = self.output_name
        if self.report is None or name is None:
            return None
        return self.report.tensor(name).tensor.shape


@dataclass(frozen=True)
class CheckRun:
    """Every result of one ``rnnshape check``, in file order then spec order."""

    files: tuple[str, ...]
    results: tuple[SpecResult, ...]
    ran_forward: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def passed(self) -> int:
        return sum(1 for r in self.results if r.ok)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


def check_files(
    paths: Sequence[str], key: str | None = None, run: RunOptions | None = None
) -> CheckRun:
    """Check every spec of every file; a file that cannot be read is one failed result."""
    results = [check_entry(entry, run) for path in paths for entry in find_specs(path, key)]
    return CheckRun(tuple(paths), tuple(results), ran_forward=run is not None)


def check_entry(entry: Entry, run: RunOptions | None = None) -> SpecResult:
    """Check one entry that ``config.find_specs`` produced."""
    if entry.problem is not None:
        return SpecResult(entry.file, entry.document, entry.name, entry.label, (entry.problem,))
    try:
        problems, module, report = check_spec(entry.spec, entry.line, run)
    except (SpecError, UsageError) as exc:  # a device or dtype this machine cannot run
        message = exc.render(_RUN_OPTION_NAMES) if isinstance(exc, SpecError) else exc.message
        raise UsageError(f"{entry.label}: {message}") from exc
    warnings = report.warnings if report is not None else ()
    # In file order; problems without a line (rare) keep their place at the end.
    ordered = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
    return SpecResult(
        entry.file,
        entry.document,
        entry.name,
        entry.label,
        tuple(ordered),
        module,
        report,
        tuple(warnings),
    )


def check_spec(
    value: object, line: int | None = None, run: RunOptions | None = None
) -> tuple[list[Problem], str | None, Report | None]:
    """Validate one spec mapping; return its problems, its torch class and (if valid) report."""
    if not isinstance(value, Mapping):
        message = (
            f"a spec must be a mapping (type, input_size, hidden_size, ...), got {describe(value)}"
        )
        return [Problem("not_a_mapping", message, line)], None, None
    problems: list[Problem] = []
    mode = _mode(value, line, problems)
    kwargs = _torch_kwargs(value, mode, line, problems)
    if mode is None:
        _input_kwargs(value, None, problems)
        _expectations(value, None, problems)
        return problems, None, None
    spec = _layer_spec(value, mode, kwargs, line, problems)
    inputs = _input_kwargs(value, spec or LayerSpec(mode, 1, 1), problems)
    expect = _expectations(value, mode, problems)
    if problems or spec is None or inputs is None:
        return problems, mode.torch_class, None
    inp, input_kwargs = inputs
    if run is None:
        report = build_report(spec, inp, device="cpu", dtype=Dtype.FLOAT32.value, seed=None)
    else:
        try:
            report = inspect(
                mode,
                **kwargs,
                **input_kwargs,
                device=run.device,
                dtype=run.dtype,
                seed=0,
                run=True,
            )
        except VerificationError as exc:
            problems.append(Problem("verify", exc.message, line))
            return problems, mode.torch_class, None
    problems += _unmet(expect, report)
    return problems, mode.torch_class, report


def _did_you_mean(word: object, choices: Iterable[str]) -> str:
    """`` (did you mean 'hidden_size'?)`` for a near miss, ignoring case; else ``""``."""
    folded = {c.lower(): c for c in choices}
    close = get_close_matches(str(word).lower(), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""


def _mode(spec: Mapping[Any, Any], line: int | None, problems: list[Problem]) -> Mode | None:
    names = ", ".join(m.value.replace("-", "_") for m in Mode)
    if "type" not in spec:
        problems.append(Problem("type", f"missing key 'type' (one of {names})", line))
        return None
    kind = spec["type"]
    where = key_line(spec, "type")
    if not isinstance(kind, str):
        problems.append(
            Problem("type", f"type must be one of {names}, got {describe(kind)}", where)
        )
        return None
    try:
        return Mode.parse(kind)
    except ValueError:
        hint = _did_you_mean(kind, (m.value.replace("-", "_") for m in Mode))
        problems.append(Problem("type", f"unknown type {kind!r}{hint}: one of {names}", where))
        return None


def _torch_kwargs(
    spec: Mapping[Any, Any], mode: Mode | None, line: int | None, problems: list[Problem]
) -> dict[str, Any]:
    """The torch keywords given, with problems for unknown keys, nulls and missing sizes."""
    kwargs: dict[str, Any] = {}
    valid = ("type", *(mode.kwargs if mode else TORCH_KEYS), "input", "expect")
    for key, value in spec.items():
        where = key_line(spec, key)
        if key in ("type", "input", "expect"):
            continue
        if key not in TORCH_KEYS:
            problems.append(Problem("unknown_key", _unknown_key(key, valid), where))
        elif value is None:
            message = f"{key} is null: give a value or leave the key out"
            problems.append(Problem("wrong_type", message, where))
        else:
            kwargs[key] = value
    if mode is not None:
        for key in _REQUIRED:
            if key not in spec:
                message = (
                    f"missing key {key!r}: nn.{mode.torch_class} needs input_size and hidden_size"
                )
                problems.append(Problem("value", message, line))
    return kwargs


def _unknown_key(key: object, valid: Sequence[str]) -> str:
    if key in INPUT_KEYS:
        return f"unknown key {key!r} (input sizes go under input: input.{key})"
    if key in COUNT_EXPECTATIONS:
        return f"unknown key {key!r} (expectations go under expect: expect.{key})"
    return f"unknown key {key!r}{_did_you_mean(key, valid)}"


def _layer_spec(
    spec: Mapping[Any, Any],
    mode: Mode,
    kwargs: dict[str, Any],
    line: int | None,
    problems: list[Problem],
) -> LayerSpec | None:
    """``make_spec`` on the given keywords, reporting every key it rejects, not just the first."""
    args = dict(kwargs)
    broken = any(key not in args for key in _REQUIRED)  # already reported as missing
    for key in _REQUIRED:
        args.setdefault(key, _STAND_IN[key])
    # Each failure removes (or stands in for) the key it names, so this ends.
    for _ in range(len(args) + 1):
        try:
            built = make_spec(mode, **args)
        except SpecError as exc:
            broken = True
            problems.append(Problem(_KIND_RULE[exc.kind], str(exc), key_line(spec, exc.param)))
            if exc.param not in args:
                return None
            if exc.param in _REQUIRED:
                args[exc.param] = _STAND_IN[exc.param]
            else:
                del args[exc.param]
            continue
        return None if broken else built
    return None


def _input_kwargs(
    spec: Mapping[Any, Any], layer: LayerSpec | None, problems: list[Problem]
) -> tuple[InputSpec, dict[str, Any]] | None:
    """The validated input and the keywords it came from; None where it is invalid."""
    if "input" not in spec:
        return (make_input(layer), {}) if layer is not None else None
    given = spec["input"]
    where = key_line(spec, "input")
    if not isinstance(given, Mapping):
        message = f"input must be a mapping (seq, batch, unbatched, lengths), got {describe(given)}"
        problems.append(Problem("wrong_type", message, where))
        return None
    args: dict[str, Any] = {}
    broken = False
    for key, value in given.items():
        if key not in INPUT_KEYS:
            message = f"unknown key 'input.{key}'{_did_you_mean(key, INPUT_KEYS)}"
            problems.append(Problem("unknown_key", message, key_line(given, key)))
            broken = True
        elif value is None:
            message = f"input.{key} is null: give a value or leave the key out"
            problems.append(Problem("wrong_type", message, key_line(given, key)))
            broken = True
        else:
            args[key] = value
    if layer is None:
        return None
    for _ in range(len(args) + 1):
        try:
            inp = make_input(layer, **args)
        except SpecError as exc:
            broken = True
            message = exc.render(_INPUT_NAMES)
            problems.append(Problem(_KIND_RULE[exc.kind], message, key_line(given, exc.param)))
            if exc.param not in args:
                return None
            del args[exc.param]
            continue
        return None if broken else (inp, args)
    return None


def _tensor_names(mode: Mode) -> tuple[str, ...]:
    layer = LayerSpec(mode, 1, 2)
    inp = InputSpec(seq=None) if mode.is_cell else InputSpec()
    return tuple(t.name for t in tensor_shapes(layer, inp))


_ALL_TENSORS = tuple(dict.fromkeys(n for m in Mode for n in _tensor_names(m)))


@dataclass(frozen=True)
class _Expected:
    """The well-formed expectations of a spec, with the line of each."""

    values: dict[str, Any] = field(default_factory=dict)
    lines: dict[str, int | None] = field(default_factory=dict)


def _expectations(spec: Mapping[Any, Any], mode: Mode | None, problems: list[Problem]) -> _Expected:
    out = _Expected()
    if "expect" not in spec:
        return out
    given = spec["expect"]
    if not isinstance(given, Mapping):
        message = (
            "expect must be a mapping (num_parameters, max_parameters, output_features, "
            f"or a tensor name and its shape), got {describe(given)}"
        )
        problems.append(Problem("wrong_type", message, key_line(spec, "expect")))
        return out
    tensors = _tensor_names(mode) if mode is not None else _ALL_TENSORS
    for key, value in given.items():
        where = key_line(given, key)
        problem = _expectation_problem(key, value, mode, tensors)
        if problem is not None:
            problems.append(Problem(problem[0], problem[1], where))
        else:
            out.values[key] = value
            out.lines[key] = where
    return out


def _expectation_problem(
    key: object, value: object, mode: Mode | None, tensors: Sequence[str]
) -> tuple[str, str] | None:
    """``(rule, message)`` for a malformed expectation, None for a well-formed one."""
    if key in COUNT_EXPECTATIONS:
        least = 1 if key == "output_features" else 0
        if isinstance(value, bool) or not isinstance(value, int):
            return "wrong_type", f"expect.{key} must be an integer, got {describe(value)}"
        if value < least:
            return "value", f"expect.{key} {value} must be at least {least}"
        return None
    if key in tensors:
        dims_ok = isinstance(value, list) and all(
            d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0) for d in value
        )
        if not dims_ok:
            return (
                "wrong_type",
                f"expect.{key} must be a list of sizes (integers, or null for any size), "
                f"got {describe(value) if not isinstance(value, list) else _shape_text(value)}",
            )
        return None
    if key in _ALL_TENSORS and mode is not None:
        return (
            "unknown_key",
            f"unknown key 'expect.{key}': nn.{mode.torch_class} has no tensor {key} "
            f"(its tensors: {', '.join(tensors)})",
        )
    hint = _did_you_mean(key, (*COUNT_EXPECTATIONS, *tensors))
    return "unknown_key", f"unknown key 'expect.{key}'{hint}"


def _shape_text(shape: Sequence[object]) -> str:
    """``[5, null, 40]``: as the config file writes it."""
    return "[" + ", ".join("null" if d is None else repr(d) for d in shape) + "]"


def _unmet(expected: _Expected, report: Report) -> list[Problem]:
    """Problems for every expectation the module does not meet."""
    problems = []
    count = report.num_parameters
    cell = report.spec.mode.is_cell
    for key, want in expected.values.items():
        where = expected.lines.get(key)
        rule = f"expect.{key}"
        if key == "num_parameters" and want != count:
            problems.append(
                Problem(rule, f"expect.num_parameters is {want}, the module has {count}", where)
            )
        elif key == "max_parameters" and count > want:
            message = (
                f"expect.max_parameters is {want}, the module has {count} "
                f"({count - want} over budget)"
            )
            problems.append(Problem(rule, message, where))
        elif key == "output_features":
            name = "h_1" if cell else "output"
            shape = report.tensor(name).tensor.shape
            if shape[-1] != want:
                message = (
                    f"expect.output_features is {want}, the module gives {shape[-1]} "
                    f"(the last dimension of {name} {_shape_text(shape)})"
                )
                problems.append(Problem(rule, message, where))
        elif key not in COUNT_EXPECTATIONS:
            shape = report.tensor(key).tensor.shape
            if len(want) != len(shape):
                message = (
                    f"expect.{key} is {_shape_text(want)} (rank {len(want)}), "
                    f"{key} has shape {_shape_text(shape)} (rank {len(shape)})"
                )
                problems.append(Problem(rule, message, where))
            elif any(w is not None and w != d for w, d in zip(want, shape, strict=True)):
                message = (
                    f"expect.{key} is {_shape_text(want)}, {key} has shape {_shape_text(shape)}"
                )
                problems.append(Problem(rule, message, where))
    return problems
