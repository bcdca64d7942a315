"""What popular FLOP counters report for PyTorch recurrent layers, next to rnnshape's cost.

For each layer below, builds the module and its input as a user would, runs one forward
pass under ``torch.no_grad()`` through each counter and prints one Markdown table:

  * rnnshape: ``cost.macs`` (matrix multiplies, one multiply-add each) and ``cost.flops``
    (``2·macs`` plus the element-wise work), computed from the equations;
  * ``torch.utils.flop_counter.FlopCounterMode``, once with oneDNN disabled
    (``torch.backends.mkldnn.flags(enabled=False)``) and once with torch's default;
  * ptflops ``get_model_complexity_info`` (both its ``pytorch`` and ``aten`` backends;
    it reports MACs), thop ``profile`` (MACs) and fvcore ``FlopCountAnalysis(...).total()``
    (one multiply-add counted as one "flop").

Every cell is the raw number the tool returned and a verdict against rnnshape's MACs
(``= MACs``, ``= 2·MACs``, ``×1.11``, ``0 (skipped)``, ``crashes: AttributeError``). Each
cell runs on a freshly built module, inside its own ``try``; a counter that cannot be
imported shows in the table and the reason is printed below it. The third-party counters
are optional (``pip install ptflops thop fvcore``) and are not dependencies of rnnshape.

    python benchmarks/flop_counters.py [--skip-large]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.metadata
import io
import logging
import platform
import re
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils.flop_counter import FlopCounterMode

import rnnshape

SEED = 0


@dataclass(frozen=True)
class Case:
    """One layer, its input as a user would build it, and the same thing for rnnshape."""

    layer: str
    input: str
    make_module: Callable[[], nn.Module]
    make_args: Callable[[], tuple[Any, ...]]
    mode: str
    sizes: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)
    large: bool = False

    def module(self) -> nn.Module:
        torch.manual_seed(SEED)
        return self.make_module().eval()

    def args(self) -> tuple[Any, ...]:
        torch.manual_seed(SEED)
        return self.make_args()


def _packed() -> tuple[Any, ...]:
    padded = torch.randn(5, 3, 10)
    return (pack_padded_sequence(padded, lengths=[5, 3, 2]),)


CASES: tuple[Case, ...] = (
    Case(
        "nn.LSTM(10, 20, 2)",
        "(5, 3, 10)",
        lambda: nn.LSTM(10, 20, 2),
        lambda: (torch.randn(5, 3, 10),),
        "lstm",
        (10, 20, 2),
        {"seq": 5, "batch": 3},
    ),
    Case(
        "nn.GRU(10, 20, bidirectional=True)",
        "(5, 3, 10)",
        lambda: nn.GRU(10, 20, bidirectional=True),
        lambda: (torch.randn(5, 3, 10),),
        "gru",
        (10, 20),
        {"bidirectional": True, "seq": 5, "batch": 3},
    ),
    Case(
        "nn.RNN(10, 20, bias=False)",
        "(5, 3, 10)",
        lambda: nn.RNN(10, 20, bias=False),
        lambda: (torch.randn(5, 3, 10),),
        "rnn",
        (10, 20),
        {"bias": False, "seq": 5, "batch": 3},
    ),
    Case(
        "nn.LSTM(10, 20, proj_size=8)",
        "(5, 3, 10)",
        lambda: nn.LSTM(10, 20, proj_size=8),
        lambda: (torch.randn(5, 3, 10),),
        "lstm",
        (10, 20),
        {"proj_size": 8, "seq": 5, "batch": 3},
    ),
    Case(
        "nn.LSTMCell(10, 20)",
        "(3, 10)",
        lambda: nn.LSTMCell(10, 20),
        lambda: (torch.randn(3, 10),),
        "lstm_cell",
        (10, 20),
        {"batch": 3},
    ),
    Case(
        "nn.GRUCell(10, 20)",
        "(3, 10)",
        lambda: nn.GRUCell(10, 20),
        lambda: (torch.randn(3, 10),),
        "gru_cell",
        (10, 20),
        {"batch": 3},
    ),
    Case(
        "nn.LSTM(10, 20)",
        "(5, 10), unbatched",
        lambda: nn.LSTM(10, 20),
        lambda: (torch.randn(5, 10),),
        "lstm",
        (10, 20),
        {"unbatched": True, "seq": 5},
    ),
    Case(
        "nn.GRU(10, 20)",
        "packed, lengths 5, 3, 2",
        lambda: nn.GRU(10, 20),
        _packed,
        "gru",
        (10, 20),
        {"lengths": [5, 3, 2]},
    ),
    Case(
        "nn.LSTM(256, 512, 2)",
        "(100, 32, 256)",
        lambda: nn.LSTM(256, 512, 2),
        lambda: (torch.randn(100, 32, 256),),
        "lstm",
        (256, 512, 2),
        {"seq": 100, "batch": 32},
        large=True,
    ),
)


@dataclass(frozen=True)
class Cell:
    """What one counter reported for one layer: a number, or why there is none."""

    value: int | None
    note: str = ""

    def render(self, macs: int) -> str:
        if self.value is None:
            return self.note
        text = f"{self.value:,} ({verdict(self.value, macs)}"
        return text + (f"; {self.note})" if self.note else ")")


def verdict(value: int, macs: int) -> str:
    """A short comparison of a counter's number with rnnshape's MACs."""
    if value == macs:
        return "= MACs"
    if value == 2 * macs:
        return "= 2·MACs"
    if value == 0:
        return "skipped"
    ratio = value / macs
    for digits in range(3, 8):  # never print "×1" for a number that is not equal
        text = f"{ratio:.{digits}g}"
        if float(text) != 1.0 and float(text) != 2.0:
            break
    return f"×{text}"


def _as_int(value: Any) -> int:
    number = float(value)
    if not number.is_integer():
        raise ValueError(f"non-integer count {value!r}")
    return int(number)


def _crash(error: BaseException) -> Cell:
    return Cell(None, f"crashes: {type(error).__name__}")


@contextlib.contextmanager
def _quiet() -> Any:
    """Swallow what the counters print, warn and log (fvcore's tracer warnings included)."""
    sink = io.StringIO()
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
    ):
        warnings.simplefilter("ignore")
        logging.disable(logging.CRITICAL)
        try:
            yield sink
        finally:
            logging.disable(logging.NOTSET)


def _onednn(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    """oneDNN disabled for the block, or torch's default left untouched."""
    if enabled:
        return contextlib.nullcontext()
    return torch.backends.mkldnn.flags(enabled=False)


def rnnshape_cost(case: Case) -> tuple[int, int]:
    """rnnshape's (macs, flops) for the case, from the equations (no forward pass)."""
    cost = rnnshape.inspect(case.mode, *case.sizes, **case.options, run=False).to_dict()["cost"]
    return int(cost["macs"]), int(cost["flops"])


def flop_counter_mode(case: Case, *, mkldnn: bool) -> int:
    """``FlopCounterMode``'s total for one forward pass, oneDNN enabled or not."""
    module, args = case.module(), case.args()
    with warnings.catch_warnings():
        # Setting the flags warns about TF32 on Intel GPUs; LSTM with proj_size warns that
        # oneDNN does not support it (it falls back to the native kernels, counted).
        warnings.simplefilter("ignore")
        with torch.no_grad(), _onednn(mkldnn):
            with FlopCounterMode(display=False) as counter:
                module(*args)
    return int(counter.get_total_flops())


def count_flop_counter_mode(case: Case, *, mkldnn: bool) -> Cell:
    try:
        return Cell(flop_counter_mode(case, mkldnn=mkldnn))
    except Exception as error:  # noqa: BLE001 - every failure is a result here
        return _crash(error)


def count_ptflops(
    case: Case, backend: str, *, constructor: str = "tensor", mkldnn: bool = True
) -> Cell:
    """ptflops' MACs. ``constructor``: "tensor" (an ``input_constructor`` returning the real
    input, passed positionally), "dict" (returning ``{"input": x}``, the form ptflops
    documents: the module gets it as a keyword) or "none" (ptflops' own ``(1, *input_res)``
    tensor, input_res being the real input's shape without dim 0)."""
    ptflops = importlib.import_module("ptflops")
    args = case.args()
    first = args[0]
    shape = tuple(first.shape) if isinstance(first, torch.Tensor) else (1,)
    options: dict[str, Any] = {}
    if constructor == "tensor":
        options["input_constructor"] = lambda _res: first
    elif constructor == "dict":
        options["input_constructor"] = lambda _res: {"input": first}
    else:
        shape = shape[1:]
    try:
        with _quiet() as sink, torch.no_grad(), _onednn(mkldnn):
            macs, _params = ptflops.get_model_complexity_info(
                case.module(),
                shape,
                as_strings=False,
                print_per_layer_stat=False,
                backend=backend,
                ost=sys.stdout,
                **options,
            )
    except Exception as error:  # noqa: BLE001
        return _crash(error)
    if macs is None:  # ptflops catches the exception itself and prints it
        found = re.findall(r"<class '([\w.]+)'>", sink.getvalue())
        name = found[-1].rsplit(".", 1)[-1] if found else "exception"
        return Cell(None, f"None ({name}, caught inside ptflops)")
    return Cell(_as_int(macs))


def count_thop(case: Case) -> Cell:
    thop = importlib.import_module("thop")
    try:
        with torch.no_grad(), _quiet():
            macs, _params = thop.profile(case.module(), inputs=case.args(), verbose=False)
        return Cell(_as_int(macs))
    except Exception as error:  # noqa: BLE001
        return _crash(error)


def count_fvcore(case: Case) -> Cell:
    fvcore_nn = importlib.import_module("fvcore.nn")
    try:
        with torch.no_grad(), _quiet():
            analysis = fvcore_nn.FlopCountAnalysis(case.module(), case.args())
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = _as_int(analysis.total())
            skipped = sorted(analysis.unsupported_ops())
    except Exception as error:  # noqa: BLE001
        return _crash(error)
    # Element-wise ops (add, mul, sigmoid, tanh) are always unsupported: only name the
    # op that carried the matrix multiplies when the total came out 0.
    heavy = [
        op
        for op in skipped
        if op in ("aten::lstm", "aten::gru", "aten::rnn_tanh", "aten::rnn_relu")
    ]
    return Cell(total, f"unsupported {', '.join(heavy)}" if total == 0 and heavy else "")


COUNTERS: tuple[tuple[str, str, Callable[[Case], Cell]], ...] = (
    ("ptflops (pytorch backend)", "ptflops", lambda case: count_ptflops(case, "pytorch")),
    ("ptflops (aten backend)", "ptflops", lambda case: count_ptflops(case, "aten")),
    ("thop", "thop", count_thop),
    ("fvcore", "fvcore", count_fvcore),
)


def import_problems() -> dict[str, str]:
    """Which optional counters cannot be imported, and why."""
    problems = {}
    for package in ("ptflops", "thop", "fvcore.nn"):
        try:
            with _quiet():
                importlib.import_module(package)
        except Exception as error:  # noqa: BLE001
            problems[package.split(".")[0]] = f"{type(error).__name__}: {error}"
    return problems


def table(cases: tuple[Case, ...]) -> str:
    problems = import_problems()
    header = [
        "Layer",
        "Input",
        "rnnshape MACs",
        "rnnshape FLOPs",
        "FlopCounterMode, oneDNN off",
        "FlopCounterMode, oneDNN on (default)",
    ]
    header += [title for title, _, _ in COUNTERS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for case in cases:
        macs, flops = rnnshape_cost(case)
        row = [
            f"`{case.layer}`",
            case.input,
            f"{macs:,}",
            f"{flops:,}",
            count_flop_counter_mode(case, mkldnn=False).render(macs),
            count_flop_counter_mode(case, mkldnn=True).render(macs),
        ]
        for _, package, count in COUNTERS:
            row.append(
                f"not importable ({package})" if package in problems else count(case).render(macs)
            )
        lines.append("| " + " | ".join(row) + " |")
    for package, reason in problems.items():
        lines.append(f"\n{package} could not be imported: {reason}")
    return "\n".join(lines)


def variants() -> str:
    """The same counters called differently, on the first layer: measured, like the table."""
    case = CASES[0]
    macs, _ = rnnshape_cost(case)
    runs: list[tuple[str, Callable[[], Cell]]] = [
        (
            'ptflops (pytorch backend), `input_constructor=lambda res: {"input": x}`',
            lambda: count_ptflops(case, "pytorch", constructor="dict"),
        ),
        (
            "ptflops (pytorch backend), no `input_constructor`, `input_res=(3, 10)`",
            lambda: count_ptflops(case, "pytorch", constructor="none"),
        ),
        (
            "ptflops (aten backend) inside `torch.backends.mkldnn.flags(enabled=False)`",
            lambda: count_ptflops(case, "aten", mkldnn=False),
        ),
    ]
    problems = import_problems()
    lines = [
        f"Variants, measured on `{case.layer}` with input {case.input} (rnnshape: {macs:,} MACs):"
    ]
    for label, run in runs:
        result = "not importable" if "ptflops" in problems else run().render(macs)
        lines.append(f"- {label}: {result}")
    return "\n".join(lines)


LEGEND = """\
Conventions (verdicts compare each raw number with rnnshape's MACs):
- rnnshape: MACs = the matrix multiplies only, one multiply-add each (input, recurrent and
  `weight_hr` projections); FLOPs = 2·MACs + element-wise work (every add, multiply and
  nonlinearity of the PyTorch docs' equations = 1 FLOP). Packed input costs its real steps.
- FlopCounterMode: FLOPs = 2 × the multiply-adds of the matrix-multiply aten ops it sees;
  element-wise ops and bias adds are not counted. With oneDNN enabled (CPU default) a
  float32 nn.LSTM without proj_size runs as aten.mkldnn_rnn_layer, which it does not count.
- ptflops, pytorch backend (its default): module hooks with a hand formula that counts
  MACs plus bias and element-wise adds/multiplies per step, and ignores `weight_hr`. It
  reports per sample: it reads input dim 0 as the batch (× dim 1 as the steps), then
  divides the total by len(input), i.e. by the sequence length of a seq-first input and by
  the rows of a cell's input. Its RNN hooks read only positional input, so the documented
  dict `input_constructor` gives None (IndexError), and a PackedSequence has no `.shape`.
- ptflops, aten backend: a dispatch-mode counter like FlopCounterMode, but in MACs and with
  the bias adds of addmm included; so it sees 0 where FlopCounterMode does.
- thop: module hooks with a hand formula ("ops" = MACs + bias adds + some element-wise
  work) from input_size/hidden_size only (no proj_size); the batch is input dim 1 (dim 0 if
  batch_first) even when unbatched, and a packed input counts max(batch_sizes) × steps.
- fvcore: traces with torch.jit and counts one multiply-add as one "flop"; aten::lstm,
  aten::gru, aten::rnn_tanh have no handler and count 0 (a warning, silenced here); cells
  decompose into linear ops, which it counts."""


def versions() -> str:
    names = ["torch", "rnnshape", "ptflops", "thop", "fvcore"]
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            parts.append(f"{name} not installed")
    parts.append(f"oneDNN available: {torch.backends.mkldnn.is_available()}")
    parts.append(platform.machine())
    return "Versions: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--skip-large", action="store_true", help="leave out nn.LSTM(256, 512, 2) on (100, 32, 256)"
    )
    options = parser.parse_args(argv)
    torch.set_num_threads(min(torch.get_num_threads(), 8))
    cases = tuple(case for case in CASES if not (options.skip_large and case.large))
    print(table(cases))
    print()
    print(variants())
    print()
    print(LEGEND)
    print()
    print(versions())


if __name__ == "__main__":
    main()
