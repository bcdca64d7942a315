"""One call from a spec and the run options to a complete, verified Report.

Everything a report shows is computed here, once: the formulas' parameters and tensors, the
cost, the memory, the legend and notes, the bench figures and, when asked, the explanation.
torch is reached only through ``rnnshape.torchrun``, imported when a real run starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from rnnshape.errors import SpecError, VerificationError
from rnnshape.explain.kernel import fused_lstm
from rnnshape.explain.legend import report_notes, symbols
from rnnshape.family import (
    Dtype,
    InputSpec,
    LayerSpec,
    Mode,
    make_input,
    make_spec,
    spec_warnings,
)
from rnnshape.family.options import DEFAULT_MAX_SECONDS, RunOptions
from rnnshape.formulas import (
    BACKWARD_FLOPS_FACTOR,
    ParameterShape,
    TensorShape,
    cost,
    elide,
    listed_parameters,
    memory,
    num_parameters,
    parameter_count,
    row_steps,
    sequences,
    tensor_shapes,
)
from rnnshape.report import (
    UNSTABLE_IQR_FRACTION,
    BenchFigures,
    BenchTimes,
    Report,
    TensorRow,
)

if TYPE_CHECKING:
    from rnnshape.explain.parts import Explanation
    from rnnshape.torchrun.passes import Observation


def inspect(
    mode: Mode | str,
    input_size: int,
    hidden_size: int,
    num_layers: int | None = None,
    *,
    seq: int | None = None,
    batch: int | None = None,
    unbatched: bool | None = None,
    lengths: Sequence[int] | None = None,
    options: RunOptions | None = None,
    device: str = "cpu",
    dtype: Dtype | str = Dtype.FLOAT32,
    seed: int = 0,
    run: bool = True,
    bench: int | None = None,
    backward: bool = False,
    max_seconds: float | None = DEFAULT_MAX_SECONDS,
    explain: bool = False,
    progress: Callable[[int, int], None] | None = None,
    started: Callable[[float], None] | None = None,
    **layer_options: object,
) -> Report:
    """Describe ``nn.<Mode>(...)`` on the given input; with ``run`` verify it against torch.

    ``layer_options`` are the class's other constructor keywords (``bias``, ``batch_first``,
    ``dropout``, ``bidirectional``, ``proj_size``, ``nonlinearity``); ``None`` means not given.
    How it runs is ``options`` (a ``RunOptions``) or, as a shorthand, its fields given one by
    one (``run=False`` is ``dry_run=True``); see ``RunOptions`` and ``run_report``.
    """
    spec = make_spec(mode, input_size, hidden_size, num_layers, **layer_options)
    inp = make_input(spec, seq=seq, batch=batch, unbatched=unbatched, lengths=lengths)
    if options is None:
        if not isinstance(run, bool):
            raise SpecError("run", f"must be true or false, got {run!r}", kind="wrong_type")
        options = RunOptions(
            device=device,
            dtype=dtype,  # type: ignore[arg-type]  # a name is parsed by RunOptions
            seed=seed,
            bench=bench,
            backward=backward,
            max_seconds=max_seconds,
            dry_run=not run,
        )
    elif not isinstance(options, RunOptions):
        raise SpecError("options", f"must be a RunOptions, got {options!r}", kind="wrong_type")
    return run_report(spec, inp, options, explain=explain, progress=progress, started=started)


def run_report(
    spec: LayerSpec,
    inp: InputSpec,
    options: RunOptions = RunOptions(),
    *,
    explain: bool = False,
    progress: Callable[[int, int], None] | None = None,
    started: Callable[[float], None] | None = None,
) -> Report:
    """The one entry point: a complete Report of ``spec`` on ``inp``, run as ``options`` say.

    With ``options.dry_run`` the formulas alone answer (no torch). Otherwise the module is
    built and run (``rnnshape.torchrun``) and every figure is verified against torch; a run
    estimated to take longer than ``options.max_seconds`` is refused before it starts.
    ``explain`` adds the equations, gate blocks and unrolled network; ``progress`` receives
    (done, total) bench passes; ``started`` the time estimate, in seconds, as the run starts.
    """
    if options.dry_run:
        return build_report(
            spec,
            inp,
            device=options.device,
            dtype=options.dtype.value,
            seed=options.seed,
            explain=explain,
        )
    from rnnshape.torchrun.run import run as run_forward

    observation = run_forward(spec, inp, options, progress=progress, started=started)
    return build_report(
        spec,
        inp,
        device=observation.device,
        dtype=options.dtype.value,
        seed=options.seed,
        observation=observation,
        explain=explain,
    )


def inspect_module(module: Any, input: Any, hx: Any = None, *, seed: int = 0) -> Report:
    """Describe an existing ``nn.RNN``/``LSTM``/``GRU``/cell on a real input, verified."""
    from rnnshape.torchrun.observe import observe_module

    spec, inp, observation = observe_module(module, input, hx, seed=seed)
    return build_report(
        spec,
        inp,
        device=observation.device,
        dtype=observation.dtype,
        seed=seed if hx is None else None,
        observation=observation,
    )


def build_report(
    spec: LayerSpec,
    inp: InputSpec,
    *,
    device: str,
    dtype: str,
    seed: int | None,
    observation: Observation | None = None,
    explain: bool = False,
) -> Report:
    """Compute everything the report shows; with an observation, verify the formulas first."""
    params, params_omitted = listed_parameters(spec)
    tensors = tensor_shapes(spec, inp)
    warnings = spec_warnings(spec)
    rows = tuple(TensorRow(t, dtype, device) for t in tensors)
    if observation is not None:
        verify(spec, params, tensors, observation)
        warnings += observation.warnings
        rows = tuple(
            TensorRow(t, observation.tensors[t.name].dtype, observation.tensors[t.name].device)
            for t in tensors
        )
    total_parameters = num_parameters(spec)
    run_cost = cost(spec, inp)
    bench = observation.bench if observation is not None else None
    return Report(
        spec=spec,
        input=inp,
        device=device,
        dtype=dtype,
        seed=seed,
        ran_forward=observation is not None,
        parameters=tuple(params),
        num_parameters=total_parameters,
        parameter_bytes=total_parameters * Dtype(dtype).itemsize,
        parameters_omitted=params_omitted,
        tensors=rows,
        symbols=tuple(symbols(spec, inp)),
        cost=run_cost,
        memory=memory(
            spec,
            inp,
            Dtype(dtype),
            tensors,
            device=device,
            training=bool(bench and bench.backward),
            fused=fused_lstm(spec, inp, Dtype(dtype), device, bool(bench and bench.backward)),
        )._replace(measured_peak_bytes=observation.measured_peak_bytes if observation else None),
        notes=tuple(report_notes(spec, inp)),
        warnings=tuple(warnings),
        bench=bench_figures(spec, inp, bench, run_cost.flops) if bench is not None else None,
        explanation=_explanation(
            spec,
            inp,
            params,
            tensors,
            device=device,
            dtype=Dtype(dtype),
            training=bool(bench and bench.backward),
            facts=observation.facts if observation is not None else None,
        )
        if explain
        else None,
        run=observation.run if observation is not None else None,
    )


def _explanation(
    spec: LayerSpec,
    inp: InputSpec,
    params: list[ParameterShape],
    tensors: list[TensorShape],
    **kernel: Any,
) -> Explanation:
    """The equations, gate blocks and diagram; the Kernel section from torch's own switches
    (``facts``) after a real run, predicted without them."""
    from rnnshape.explain.build import explain

    return explain(spec, inp, params, tensors, **kernel)


def bench_figures(spec: LayerSpec, inp: InputSpec, times: BenchTimes, flops: int) -> BenchFigures:
    """Figures that follow from the measured times and the exact cost of one pass."""
    import statistics

    median_ms = statistics.median(times.times_ms)
    iqr_ms = interquartile_range(times.times_ms)
    seconds = max(median_ms / 1000.0, 1e-12)
    factor = BACKWARD_FLOPS_FACTOR if times.backward else 1
    return BenchFigures(
        runs=len(times.times_ms),
        warmup=times.warmup,
        backward=times.backward,
        median_ms=median_ms,
        min_ms=min(times.times_ms),
        max_ms=max(times.times_ms),
        iqr_ms=iqr_ms,
        unstable=iqr_ms > UNSTABLE_IQR_FRACTION * median_ms,
        sequences_per_s=sequences(inp) / seconds,
        tokens_per_s=row_steps(spec, inp) / seconds,
        device=times.device,
        cudnn=times.cudnn,
        threads=times.threads,
        oversubscribed=oversubscribed(times),
        achieved_flops_per_s=flops * factor / seconds,
    )


def oversubscribed(times: BenchTimes) -> bool:
    """More threads wanted a core than there are cores while the passes were timed: the
    threads runnable between passes (this one among them) plus torch's other workers."""
    if times.runnable_most is None or times.cores is None or times.threads is None:
        return False
    return times.runnable_most + max(times.threads - 1, 0) > times.cores


def interquartile_range(times: Sequence[float]) -> float:
    """Q3 - Q1, interpolated within the data (inclusive method); 0 for one time."""
    import statistics

    if len(times) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    return max(q3 - q1, 0.0)


def verify(
    spec: LayerSpec,
    params: Sequence[ParameterShape],
    tensors: Sequence[TensorShape],
    observation: Observation,
) -> None:
    """Raise VerificationError where torch and the formulas disagree (a bug in rnnshape)."""
    problems = []
    expected_config = spec.torch_kwargs()
    if observation.config != expected_config:
        problems.append(f"config: torch has {observation.config}, formulas {expected_config}")
    # Both sides elided the same way, so verification stays O(LISTING_LIMIT).
    expected_params = [(p.name, p.shape) for p in params]
    seen_params = list(elide(observation.parameters)[0])
    if len(observation.parameters) != parameter_count(spec):
        problems.append(
            f"parameters: torch has {len(observation.parameters)}, formulas {parameter_count(spec)}"
        )
    elif seen_params != expected_params:
        problems.append(
            f"parameters: torch has {observation.parameters}, formulas {expected_params}"
        )
    for t in tensors:
        seen = observation.tensors.get(t.name)
        if seen is None:
            problems.append(f"{t.name}: torch produced no such tensor")
        elif seen.shape != t.shape or _listed(seen.batch_sizes) != (
            t.batch_sizes,
            t.batch_sizes_omitted,
        ):
            problems.append(
                f"{t.name}: torch gave shape {list(seen.shape)}"
                + (
                    f" batch_sizes {list(_listed(seen.batch_sizes)[0] or ())}"
                    if seen.batch_sizes
                    else ""
                )
                + f", formulas {list(t.shape)}"
                + (f" batch_sizes {list(t.batch_sizes)}" if t.batch_sizes else "")
            )
    extra = set(observation.tensors) - {t.name for t in tensors}
    if extra:
        problems.append(f"torch produced tensors the formulas do not know: {sorted(extra)}")
    if problems:
        raise VerificationError(
            f"torch and rnnshape's formulas disagree for {spec.constructor()} "
            f"(a bug in rnnshape, please report it): " + "; ".join(problems)
        )


def _listed(sizes: tuple[int, ...] | None) -> tuple[tuple[int, ...] | None, int]:
    """Observed ``batch_sizes`` elided as the formulas list them."""
    return (None, 0) if sizes is None else elide(sizes)
