"""What a run shows, as plain data, complete before anything is rendered.

``Report.to_dict()`` is the JSON contract (schema v1). The pipeline fills every field once;
renderers read them and compute nothing. This module also re-exports the data types a
report is made of, so that renderers import this layer only (the explanation's under
``TYPE_CHECKING``: they load with ``--explain`` only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

from rnnshape._version import SCHEMA_VERSION, __version__
from rnnshape.explain.legend import Symbol
from rnnshape.family import InputSpec, LayerSpec
from rnnshape.formulas import (
    LISTING_EDGE,
    Cost,
    Dim,
    Memory,
    ParameterShape,
    TensorShape,
    elided_dict,
    memory_groups,
)
from rnnshape.text import product_text

if TYPE_CHECKING:  # the explanation's types, loaded with --explain only
    from rnnshape.explain.parts import Equation as Equation
    from rnnshape.explain.parts import Explanation as Explanation
    from rnnshape.explain.parts import GateBlock as GateBlock

__all__ = [
    "LISTING_EDGE",
    "SCHEMA_VERSION",
    "BenchFigures",
    "BenchTimes",
    "Probe",
    "RunFigures",
    "Cost",
    "Dim",
    "InputSpec",
    "LayerSpec",
    "Memory",
    "ParameterShape",
    "Report",
    "Symbol",
    "TensorRow",
    "TensorShape",
    "UNSTABLE_IQR_FRACTION",
    "dim_symbol",
    "dim_value",
    "elided_dict",
]


class Display(NamedTuple):
    """How a document (``Report``, ``ModelReport``) draws itself, filled in by the render
    layer when it loads.

    The report layer must not import the renderers (they sit above it), yet a report
    should show as its tables in Jupyter, IPython, ``print`` and ``rich.print``. So the
    protocol methods live here, in ``Displayed``, and delegate to the functions
    ``rnnshape.render.report`` (and ``render.model``) register with ``register_display``
    (``import rnnshape`` triggers it when it hands out ``inspect``, ``inspect_module`` or
    ``Report``).
    """

    text: Callable[[Any], str]  # the tables as plain text
    rich: Callable[[Any, Any, Any], Any]  # __rich_console__(report, console, options)
    mimebundle: Callable[[Any], dict[str, str]]  # Jupyter's text/plain and text/html
    show: Callable[[Any, Any], None]  # print the tables on a stream, as the command does


_displays: dict[str, Display] = {}  # by the document class's name


def register_display(display: Display, kind: str = "Report") -> None:
    """Called by the render layer: from now on a ``kind`` document (the class's name)
    displays as ``display`` says."""
    _displays[kind] = display


def _registered(kind: str = "Report") -> Display | None:
    return _displays.get(kind)


class Displayed:
    """The display protocol of a document, written once for ``Report`` and ``ModelReport``
    (their fields are a NamedTuple, which takes no mixin: each is that tuple plus this).

    Every method asks for the ``Display`` registered under the class's name (or a base's);
    before the render layer has loaded, a document shows as its ``_placeholder()``.
    """

    __slots__ = ()

    def _placeholder(self) -> str:
        """What ``str()`` gives before the renderers are loaded."""
        return f"<{type(self).__name__}>"

    def _display(self) -> Display | None:
        # Through the class's bases: a subclass displays as the document it extends.
        for cls in type(self).__mro__:
            display = _registered(cls.__name__)
            if display is not None:
                return display
        return None

    def __str__(self) -> str:
        """The tables as plain text (as ``rnnshape <mode> > file`` writes them)."""
        display = self._display()
        return display.text(self) if display else self._placeholder()

    def __rich_console__(self, console: Any, options: Any) -> Any:
        """Rich's protocol: ``rich.print(report)``, Rich's IPython extension."""
        display = self._display()
        if display is None:
            yield str(self)
            return
        yield from display.rich(self, console, options)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter and IPython: the tables (HTML in a notebook, text in a terminal)."""
        display = self._display()
        return display.mimebundle(self) if display else {"text/plain": str(self)}

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text display: the tables, not the tuple (``repr`` keeps it)."""
        printer.text(str(self))

    def show(self, file: Any = None) -> None:
        """Print the tables, as the command does: on ``file`` (default stdout)."""
        import sys

        display = self._display()
        if display is None:
            (file or sys.stdout).write(str(self) + "\n")
        else:
            display.show(self, file or sys.stdout)


def dim_symbol(dim: Dim) -> str:
    """A dimension as the docs write it: ``4·H``, ``D·H_out``, ``H_in``."""
    return product_text([symbol for symbol, _ in dim])


def dim_value(dim: Dim) -> str:
    """The same with this run's numbers: ``4·20``, ``2·8``, ``10``."""
    return product_text([value for _, value in dim])


class BenchTimes(NamedTuple):
    """Measured wall times of each timed pass, in milliseconds, and how the layer ran."""

    times_ms: tuple[float, ...]
    warmup: int
    backward: bool
    device: str
    cudnn: bool | None
    threads: int | None = None  # torch's intra-op threads (CPU)
    runnable_most: int | None = None  # most runnable threads seen while timing (Linux)
    cores: int | None = None


class Probe(NamedTuple):
    """What the time guard measured on the built module before the run: ``short_steps`` and
    ``long_steps`` time steps (1 and 1 for a cell) took ``short_seconds`` and
    ``long_seconds`` a call (the fastest of a few), fitted as a fixed cost plus a per-step
    slope; random inputs were drawn at ``fill_bytes_per_s``."""

    short_steps: int
    short_seconds: float
    long_steps: int
    long_seconds: float
    fixed_seconds: float
    step_seconds: float
    backward: bool
    fill_bytes_per_s: float
    spent_seconds: float  # the probe's own wall time
    exponent: float = 1.0  # > 1: a backward pass's time grows as steps ** exponent


class RunFigures(NamedTuple):
    """The ``run`` key of the JSON document: how the real run went.

    ``estimated_seconds`` is the time guard's estimate of the run (drawing the input, the
    verified pass, the bench) from its probe; None when the run needed no probe (under a
    second even on the slowest device). ``measured_seconds`` is the same span, measured.
    ``backend`` is the kernel torch was observed to run: cudnn, onednn, miopen or native."""

    estimated_seconds: float | None
    measured_seconds: float
    probe: Probe | None
    backend: str | None

    def to_dict(self) -> dict[str, object]:
        return {
            "estimated_seconds": self.estimated_seconds,
            "measured_seconds": self.measured_seconds,
            "probe": self.probe._asdict() if self.probe is not None else None,
            "backend": self.backend,
        }


# As pyperf warns: a spread (IQR) over 10% of the median means the timings are not stable.
UNSTABLE_IQR_FRACTION = 0.10


class BenchFigures(NamedTuple):
    """The ``bench`` key of the JSON document: measured times and what follows from them."""

    runs: int
    warmup: int
    backward: bool
    median_ms: float
    min_ms: float
    max_ms: float
    iqr_ms: float  # interquartile range (Q3 - Q1) of the timed passes
    unstable: bool  # the IQR is over UNSTABLE_IQR_FRACTION of the median: a busy machine
    sequences_per_s: float
    tokens_per_s: float
    device: str
    cudnn: bool | None
    achieved_flops_per_s: float
    threads: int | None = None  # torch's intra-op threads during the timing (CPU)
    oversubscribed: bool = False  # more runnable threads than cores were seen while timing


class TensorRow(NamedTuple):
    """A tensor of the forward pass with the dtype and device it had (or would have)."""

    tensor: TensorShape
    dtype: str
    device: str

    def to_dict(self) -> dict[str, object]:
        t = self.tensor
        out: dict[str, object] = {
            "shape": list(t.shape),
            "dims": [dim_symbol(d) for d in t.dims],
            "numel": t.numel,
            "direction": t.direction,
            "dtype": self.dtype,
            "device": self.device,
            "packed": t.packed,
        }
        if t.batch_sizes is not None:
            out["batch_sizes"] = list(t.batch_sizes)
            if t.batch_sizes_omitted:
                out["batch_sizes_elided"] = elided_dict(len(t.batch_sizes), t.batch_sizes_omitted)
        return out


def _parameter_dict(p: ParameterShape) -> dict[str, object]:
    return {
        "name": p.name,
        "shape": list(p.shape),
        "numel": p.numel,
        "symbols": [dim_symbol(d) for d in p.dims],
        "values": [dim_value(d) for d in p.dims],
        "gates": list(p.gates),
        "role": p.role,
        "layer": p.layer,
        "direction": p.direction,
    }


class _ReportFields(NamedTuple):
    """A ``Report``'s fields (``Report`` adds the display methods)."""

    spec: LayerSpec
    input: InputSpec
    device: str
    dtype: str
    seed: int | None
    ran_forward: bool
    parameters: tuple[ParameterShape, ...]
    num_parameters: int
    parameter_bytes: int
    tensors: tuple[TensorRow, ...]
    symbols: tuple[Symbol, ...]
    cost: Cost
    memory: Memory
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    bench: BenchFigures | None = None
    explanation: Explanation | None = None  # with --explain: equations, gate blocks, diagram
    parameters_omitted: int = 0  # left out of ``parameters`` at index LISTING_EDGE
    run: RunFigures | None = None  # after a real run: estimate, outcome, backend


class Report(Displayed, _ReportFields):
    """Everything ``rnnshape <mode>`` shows for one layer and one input, computed once."""

    __slots__ = ()

    def _placeholder(self) -> str:
        return f"<Report {self.spec.constructor()}>"

    @property
    def module(self) -> str:
        """The torch class: ``LSTM`` (the JSON's ``module``)."""
        return self.spec.mode.torch_class

    @property
    def memory_tensors(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The tensors counted in ``memory.state_bytes`` and ``memory.output_bytes``, by name:
        the family's own states (``h_0, h_n`` for a GRU, ``h_1`` out of an RNNCell)."""
        return memory_groups(self.spec, [row.tensor for row in self.tensors])

    def tensor(self, name: str) -> TensorRow:
        return next(row for row in self.tensors if row.tensor.name == name)

    def to_dict(self) -> dict[str, object]:
        """The JSON document: deterministic (``bench`` aside), plain types only."""
        doc: dict[str, object] = {
            "schema_version": SCHEMA_VERSION,
            "rnnshape_version": __version__,
            "module": self.module,
            "constructor": self.spec.constructor(),
            "config": self.spec.torch_kwargs(),
            "device": self.device,
            "dtype": self.dtype,
            "seed": self.seed,
            "input": {
                "seq": self.input.seq,
                "batch": self.input.batch,
                "unbatched": self.input.unbatched,
                "lengths": list(self.input.lengths) if self.input.lengths is not None else None,
            },
            "parameters": [_parameter_dict(p) for p in self.parameters],
            **(
                {"parameters_elided": elided_dict(len(self.parameters), self.parameters_omitted)}
                if self.parameters_omitted
                else {}
            ),
            "num_parameters": self.num_parameters,
            "parameter_bytes": self.parameter_bytes,
            "tensors": {row.tensor.name: row.to_dict() for row in self.tensors},
            "symbols": {s.name: s.value for s in self.symbols},
            "cost": self.cost.to_dict(),
            "memory": self.memory.to_dict(),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "ran_forward": self.ran_forward,
        }
        if self.explanation is not None:
            doc["explain"] = self.explanation.to_dict()
        if self.run is not None:
            doc["run"] = self.run.to_dict()
        if self.bench is not None:
            doc["bench"] = self.bench._asdict()
        return doc
