"""The validated description of one recurrent layer or cell and its input; no torch here."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import NamedTuple

from rnnshape.errors import SpecError

from .table import NONLINEARITIES, OPTIONAL_KWARGS, Dtype, Mode, modes_with


class LayerSpec(NamedTuple):
    """One torch recurrent module's constructor arguments, validated."""

    mode: Mode
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    nonlinearity: str = "tanh"

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        """Width of ``h`` and of each direction's output: ``proj_size`` when projecting."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def gate_rows(self) -> int:
        """Rows of ``weight_ih``/``weight_hh``: one ``hidden_size`` block per gate."""
        return self.mode.gate_count * self.hidden_size

    def torch_kwargs(self) -> dict[str, object]:
        """Exactly the keyword arguments of the torch class, in its signature's order."""
        return {name: getattr(self, name) for name in self.mode.kwargs}

    def constructor(self) -> str:
        """The equivalent Python call: ``nn.LSTM(10, 20, num_layers=2)``."""
        defaults = LayerSpec(self.mode, self.input_size, self.hidden_size)
        args = [str(self.input_size), str(self.hidden_size)]
        for name in self.mode.kwargs[2:]:
            value = getattr(self, name)
            if value != getattr(defaults, name):
                args.append(f"{name}={value!r}")
        return f"nn.{self.mode.torch_class}({', '.join(args)})"


class InputSpec(NamedTuple):
    """The input fed to the forward pass: padded batch, unbatched, or packed by ``lengths``."""

    seq: int | None = 5  # None for cells: one time step
    batch: int | None = 3  # None when unbatched
    unbatched: bool = False
    lengths: tuple[int, ...] | None = None

    @property
    def packed(self) -> bool:
        return self.lengths is not None


def _check_int(param: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(param, f"must be an integer, got {value!r}", kind="wrong_type")
    if value < minimum:
        rule = "must be at least 1" if minimum == 1 else f"must be at least {minimum}"
        raise SpecError(param, f"{value} {rule}")
    return value


def _check_bool(param: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise SpecError(param, f"must be true or false, got {value!r}", kind="wrong_type")
    return value


def _only_for(param: str, mode: Mode) -> SpecError:
    owners = ", ".join(m.value for m in modes_with(param))
    return SpecError(
        param, f"is only for {owners} ({mode.value} has no {param})", kind="unsupported"
    )


def _check_dropout(value: object, _: dict[str, object]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError("dropout", f"must be a number, got {value!r}", kind="wrong_type")
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise SpecError("dropout", f"{value} must be between 0 and 1")
    return float(value)


def _check_proj_size(value: object, values: dict[str, object]) -> int:
    size = _check_int("proj_size", value, 0)
    hidden = values["hidden_size"]
    assert isinstance(hidden, int)
    if size >= hidden:
        raise SpecError("proj_size", f"{size} must be smaller than hidden_size {hidden}")
    return size


def _check_nonlinearity(value: object, _: dict[str, object]) -> str:
    if not isinstance(value, str):
        raise SpecError(
            "nonlinearity", f"must be 'tanh' or 'relu', got {value!r}", kind="wrong_type"
        )
    if value not in NONLINEARITIES:
        raise SpecError("nonlinearity", f"{value!r} must be 'tanh' or 'relu'")
    return value


# How each optional constructor keyword is validated, given the values checked so far.
_VALIDATORS: dict[str, Callable[[object, dict[str, object]], object]] = {
    "num_layers": lambda v, _: _check_int("num_layers", v, 1),
    "nonlinearity": _check_nonlinearity,
    "bias": lambda v, _: _check_bool("bias", v),
    "batch_first": lambda v, _: _check_bool("batch_first", v),
    "dropout": _check_dropout,
    "bidirectional": lambda v, _: _check_bool("bidirectional", v),
    "proj_size": _check_proj_size,
}
assert tuple(_VALIDATORS) == OPTIONAL_KWARGS, "one validator per optional keyword"


# Matched whole (fullmatch: ``$`` would let a trailing newline through), ASCII digits only.
_DEVICE_RE = re.compile(r"cpu|mps|auto|cuda(:[0-9]+)?")


def check_device_name(device: str) -> str:
    """Reject a device string that is none of cpu, cuda, cuda:N, mps, auto (no torch needed;
    whether the device exists here is the torch run's question)."""
    if not isinstance(device, str) or not _DEVICE_RE.fullmatch(device):
        raise SpecError("device", f"{device!r} must be cpu, cuda, cuda:N, mps or auto")
    return device


def parse_dtype(dtype: Dtype | str) -> Dtype:
    try:
        return Dtype(dtype)
    except ValueError:
        names = ", ".join(d.value for d in Dtype)
        raise SpecError("dtype", f"{dtype!r} must be one of {names}") from None


def parse_mode(mode: Mode | str) -> Mode:
    if isinstance(mode, Mode):
        return mode
    try:
        return Mode.parse(mode)
    except ValueError:
        names = ", ".join(m.value for m in Mode)
        raise SpecError("mode", f"{mode!r} must be one of {names}") from None


def make_spec(
    mode: Mode | str,
    input_size: object,
    hidden_size: object,
    num_layers: object = None,
    **options: object,
) -> LayerSpec:
    """Validate constructor arguments as torch would; ``None`` means not given.

    ``options`` are the class's other keywords (``bias``, ``batch_first``, ``dropout``,
    ``bidirectional``, ``proj_size``, ``nonlinearity``). Raises the first ``SpecError``
    (``spec_problems`` gives them all).
    """
    spec, problems = spec_problems(mode, input_size, hidden_size, num_layers, **options)
    if problems:
        raise problems[0]
    assert spec is not None
    return spec


def spec_problems(
    mode: Mode | str,
    input_size: object,
    hidden_size: object,
    num_layers: object = None,
    **options: object,
) -> tuple[LayerSpec | None, list[SpecError]]:
    """Every rule the constructor arguments break, in one pass; the spec where none is."""
    mode = parse_mode(mode)
    given = {"num_layers": num_layers, **options}
    problems: list[SpecError] = []
    for param, value in given.items():
        if param not in _VALIDATORS:
            raise TypeError(f"make_spec() got an unexpected keyword argument {param!r}")
        if value is not None and param not in mode.kwargs:
            problems.append(_only_for(param, mode))
    values: dict[str, object] = {}
    for param, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        try:
            values[param] = _check_int(param, value, 1)
        except SpecError as exc:
            problems.append(exc)
    for param in OPTIONAL_KWARGS:
        if given.get(param) is None or param not in mode.kwargs:
            continue
        validator = _VALIDATORS[param]
        if param == "proj_size" and "hidden_size" not in values:
            validator = _check_proj_size_alone  # no valid hidden_size to compare with
        try:
            values[param] = validator(given[param], values)
        except SpecError as exc:
            problems.append(exc)
    if problems:
        return None, problems
    return LayerSpec(mode, **values), []  # type: ignore[arg-type]


def _check_proj_size_alone(value: object, _: dict[str, object]) -> int:
    return _check_int("proj_size", value, 0)


def make_input(
    spec: LayerSpec | Mode,
    *,
    seq: object = None,
    batch: object = None,
    unbatched: object = None,
    lengths: Sequence[object] | None = None,
) -> InputSpec:
    """Validate the input description against the layer; ``None`` means not given.

    Raises the first ``SpecError`` (``input_problems`` gives them all)."""
    inp, problems = input_problems(spec, seq=seq, batch=batch, unbatched=unbatched, lengths=lengths)
    if problems:
        raise problems[0]
    assert inp is not None
    return inp


def input_problems(
    spec: LayerSpec | Mode,
    *,
    seq: object = None,
    batch: object = None,
    unbatched: object = None,
    lengths: Sequence[object] | None = None,
) -> tuple[InputSpec | None, list[SpecError]]:
    """Every rule the input description breaks, in one pass; the input where none is.

    Only the mode matters (a cell takes one step), so a spec with problems of its own can
    still have its input checked."""
    cell = (spec if isinstance(spec, Mode) else spec.mode).is_cell
    problems: list[SpecError] = []

    def checked(check: Callable[[], object]) -> object:
        try:
            return check()
        except SpecError as exc:
            problems.append(exc)
            return _BROKEN

    if cell and seq is not None:
        problems.append(
            SpecError(
                "seq",
                "is not for cells: a cell takes one time step (it is for rnn, lstm, gru)",
                kind="unsupported",
            )
        )
        seq = None
    if cell and lengths is not None:
        problems.append(
            SpecError(
                "lengths",
                "is not for cells: a cell takes one time step, not a PackedSequence "
                "(it is for rnn, lstm, gru)",
                kind="unsupported",
            )
        )
        lengths = None
    flat = checked(lambda: _check_bool("unbatched", unbatched)) if unbatched is not None else False
    seq_value = checked(lambda: _check_int("seq", seq, 1)) if seq is not None else None
    batch_value = checked(lambda: _check_int("batch", batch, 1)) if batch is not None else None
    if flat is True and lengths is not None:
        problems.append(
            SpecError(
                "unbatched",
                "cannot be combined with {lengths}: a PackedSequence is always a batch",
            )
        )
    if flat is True and batch is not None:
        problems.append(
            SpecError("unbatched", "cannot be combined with {batch}: unbatched input has no N")
        )
    packed = checked(lambda: _check_lengths(lengths)) if lengths is not None else None
    if isinstance(packed, tuple):
        if isinstance(batch_value, int) and batch_value != len(packed):
            problems.append(
                SpecError(
                    "batch",
                    f"{batch_value} disagrees with {{lengths}}, which hold {len(packed)} sequences",
                )
            )
        if isinstance(seq_value, int) and seq_value != max(packed):
            problems.append(
                SpecError(
                    "seq",
                    f"{seq_value} disagrees with {{lengths}}, whose longest is {max(packed)}",
                )
            )
    if problems:
        return None, problems
    if isinstance(packed, tuple):
        return InputSpec(seq=max(packed), batch=len(packed), unbatched=False, lengths=packed), []
    assert isinstance(flat, bool)
    assert seq_value is None or isinstance(seq_value, int)
    assert batch_value is None or isinstance(batch_value, int)
    return (
        InputSpec(
            seq=None if cell else (seq_value if seq_value is not None else 5),
            batch=None if flat else (batch_value if batch_value is not None else 3),
            unbatched=flat,
        ),
        [],
    )


_BROKEN = object()  # a value whose check failed (its problem is recorded)


def _check_lengths(lengths: Sequence[object]) -> tuple[int, ...]:
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence):
        raise SpecError(
            "lengths", f"must be a list of integers, got {lengths!r}", kind="wrong_type"
        )
    if len(lengths) == 0:
        raise SpecError("lengths", "must not be empty: give one length per sequence, e.g. 5,3,2")
    out = []
    for item in lengths:
        if isinstance(item, bool) or not isinstance(item, int):
            raise SpecError("lengths", f"must hold integers only, got {item!r}", kind="wrong_type")
        if item < 1:
            raise SpecError("lengths", f"must be positive, got {item}")
        out.append(item)
    return tuple(out)


def spec_warnings(spec: LayerSpec) -> list[str]:
    """Things torch accepts but that probably are not what the user meant."""
    notes = []
    if spec.dropout > 0 and spec.num_layers == 1:
        notes.append(
            f"dropout {spec.dropout} has no effect with num_layers=1: torch applies dropout "
            "between stacked layers only"
        )
    return notes
