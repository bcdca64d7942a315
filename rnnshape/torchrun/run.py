"""Build the layer, run one seeded forward pass and return what torch showed.

Before the run, the time guard (``estimate``) bounds it from the formulas, then probes the
built module; the pass itself is observed (``passes``), its kernel named (``backend``) and its
peak memory measured (``device.PeakMeter``). Verification against the formulas happens in the
pipeline; this module only observes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rnnshape.errors import SpecError, UsageError
from rnnshape.family import InputSpec, LayerSpec
from rnnshape.family.options import RunOptions
from rnnshape.report import RunFigures
from rnnshape.text import duration_text
from rnnshape.torchrun.device import (
    PeakMeter,
    available_memory_bytes,
    check_device_fits,
    check_fits,
    import_torch,
    resolve_device,
    run_threads,
    torch_warnings,
)
from rnnshape.torchrun.estimate import (
    SLOWEST,
    SLOWEST_SECONDS,
    RunEstimate,
    bound_seconds,
    bound_text,
    estimate_run,
    fastest,
    probe_module,
    refusal_text,
    time_steps,
)
from rnnshape.torchrun.passes import (
    Observation,
    ObservedTensor,
    forward,
    hx_of,
    initial_states,
    make_input_tensor,
    observation,
    pass_function,
)

# What a refused run can do instead (the front ends spell the names their own way).
_INSTEAD = (
    "use {dry_run} for the same shapes and counts instantly, a smaller {seq} or {batch}, "
    "or raise {max_seconds}"
)


def _classify_failure(exc: Exception, spec: LayerSpec, dtype: str, device: str) -> Exception:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    lowered = text.lower()
    if "out of memory" in lowered or "can't allocate memory" in lowered:
        return UsageError(
            f"{spec.mode.torch_class} ran out of memory on {device}: {text}; "
            "use --dry-run to see the shapes and counts without allocating"
        )
    if any(
        k in lowered
        for k in ("not implemented for", "not supported", "unsupported", "does not support")
    ):
        return SpecError("dtype", f"{dtype} cannot run {spec.mode.torch_class} on {device}: {text}")
    return exc


def run(
    spec: LayerSpec,
    inp: InputSpec,
    options: RunOptions,
    *,
    progress: Callable[[int, int], None] | None = None,
    started: Callable[[float], None] | None = None,
) -> Observation:
    """Build the module on ``options.device`` at ``options.dtype`` and run one seeded forward
    pass; with ``options.bench``, then time repeated passes of the same module on the same
    input.

    Before anything is allocated the memory guard and the formulas' time bound may refuse
    the run; after the build, a probe of the module may (``torchrun.estimate``). ``started``
    receives the estimate in seconds as the run proper starts."""
    device, dtype, bench, limit = (
        options.device,
        options.dtype,
        options.bench_request,
        options.max_seconds,
    )
    if device in ("cpu", "mps"):
        check_fits(spec, inp, dtype, device, available_memory_bytes(device), options.training)
    notes: list[str] = []
    torch = import_torch(notes)
    resolved = resolve_device(torch, device)
    check_device_fits(torch, spec, inp, dtype, device, resolved, options.training)
    at_best = bound_seconds(spec, inp, dtype, fastest(resolved), bench)
    if limit is not None and at_best > limit:
        from rnnshape.formulas import cost

        pace = fastest(resolved)
        raise SpecError(
            "max_seconds",
            f"{limit:g}: this run would take over {duration_text(at_best)}: "
            f"{bound_text(at_best, cost(spec, inp).flops, resolved, pace)}; {_INSTEAD}",
        )
    at_worst = bound_seconds(spec, inp, dtype, SLOWEST, bench)
    tdtype = getattr(torch, dtype.value)
    meter = PeakMeter(torch, resolved)
    try:
        with torch_warnings(notes), run_threads(torch, spec, inp, resolved):
            torch.manual_seed(options.seed)
            cls = getattr(torch.nn, spec.mode.torch_class)
            module = cls(**spec.torch_kwargs(), device=resolved, dtype=tdtype).eval()
            if not spec.mode.is_cell and resolved.startswith("cuda"):
                # Built with device=, the weights are not one cuDNN buffer until flattened.
                module.flatten_parameters()

            def make(shape: tuple[int, ...]) -> Any:
                return torch.randn(shape, dtype=tdtype, device=resolved)

            estimate = None
            with _own_random_state(torch, resolved):  # the run's tensors stay as seeded
                if at_worst > min(SLOWEST_SECONDS, limit or SLOWEST_SECONDS):  # a limit is > 0
                    estimate = _probe(torch, module, spec, inp, make, options, resolved)
                    if limit is not None and estimate.seconds > limit:
                        raise SpecError(
                            "max_seconds",
                            f"{limit:g}: this run would take about "
                            f"{duration_text(estimate.seconds)} "
                            f"({refusal_text(estimate, resolved, dtype)}); {_INSTEAD}",
                        )
                # A probed or training run is observed on a short call of its own; a small
                # inference run on its verified pass itself (one pass fewer to pay for).
                on_the_pass = estimate is None and not options.training
                backend = (
                    None
                    if on_the_pass
                    else _observe_backend(torch, module, spec, inp, make, options.training)
                )
            if started is not None:
                started(estimate.seconds if estimate is not None else at_worst)
            began = time.perf_counter()
            x = make_input_tensor(torch, spec, inp, make)
            states = initial_states(spec, inp, make)
            if on_the_pass:
                from rnnshape.torchrun.backend import observe_backend

                passed: list[dict[str, ObservedTensor]] = []
                backend = observe_backend(
                    torch, lambda: passed.append(forward(torch, module, spec, x, states))
                )
                seen = passed[0]
            else:
                seen = forward(torch, module, spec, x, states)
            timed = None
            if bench is not None:
                from rnnshape.torchrun.bench import time_passes

                timed = time_passes(
                    torch, module, spec, x, states, bench, seen["input"].device, progress, backend
                )
            if resolved.startswith("cuda"):
                torch.cuda.synchronize(resolved)
            measured = time.perf_counter() - began
    except (RuntimeError, TypeError, ValueError) as exc:
        raise _classify_failure(exc, spec, dtype.value, resolved) from exc
    figures = RunFigures(
        estimated_seconds=estimate.seconds if estimate is not None else None,
        measured_seconds=measured,
        probe=estimate.probe if estimate is not None else None,
        backend=backend,
    )
    from rnnshape.torchrun.backend import backend_facts

    facts = backend_facts(torch, resolved)
    return observation(module, seen, notes, timed, figures, meter.peak(), facts)


def _own_random_state(torch: Any, device: str) -> Any:
    """Draws inside leave torch's random state as they found it (probe inputs are extra)."""
    if device.startswith("cuda"):
        index = torch.device(device).index
        return torch.random.fork_rng(devices=[index if index is not None else 0])
    return torch.random.fork_rng(devices=[])


def _short_input(spec: LayerSpec, inp: InputSpec, steps: int) -> InputSpec:
    """The run's input shortened to ``steps`` time steps; packed lengths are scaled down
    alike, so that the batch shrinks along the sequence as the run's does."""
    if spec.mode.is_cell:
        return inp
    if inp.lengths is not None:
        longest = max(inp.lengths)
        lengths = [max(1, -(-n * steps // longest)) for n in inp.lengths]
        if len(set(lengths)) == 1 < len(set(inp.lengths)) and steps > 1:
            # Uneven lengths must stay uneven: torch runs even ones as a padded batch.
            lengths[inp.lengths.index(min(inp.lengths))] = steps - 1
        return inp._replace(seq=max(lengths), lengths=tuple(lengths))
    return inp._replace(seq=steps)


def _probe(
    torch: Any,
    module: Any,
    spec: LayerSpec,
    inp: InputSpec,
    make: Callable[..., Any],
    options: RunOptions,
    device: str,
) -> RunEstimate:
    """Time the built module on short inputs and extrapolate to the whole run."""
    cuda = device.startswith("cuda")
    steps = time_steps(spec, inp)

    def caller(backward: bool) -> Callable[[int], Callable[[], None]]:
        def make_call(k: int) -> Callable[[], None]:
            short = _short_input(spec, inp, k)
            x = make_input_tensor(torch, spec, short, make)
            hx = hx_of(spec, initial_states(spec, short, make))
            return pass_function(torch, module, spec, x, hx, backward)

        return make_call

    def fill_rate() -> float:
        elements = 1 << 18
        began = time.perf_counter()
        make((elements,))
        if cuda:
            torch.cuda.synchronize(device)
        return elements * options.dtype.itemsize / max(time.perf_counter() - began, 1e-9)

    def probe(backward: bool) -> Any:
        return probe_module(
            torch,
            spec,
            caller(backward),
            steps,
            backward=backward,
            cuda=cuda,
            device=device,
            limit=options.max_seconds,
            fill_rate=fill_rate,
        )

    forward_probe = probe(False)
    backward_probe = None
    if options.training:
        module.train()  # as the bench runs it: cuDNN's backward needs training mode
        try:
            backward_probe = probe(True)
        finally:
            module.zero_grad(set_to_none=True)
            module.eval()
    return estimate_run(
        spec, inp, options.dtype, forward_probe, options.bench_request, backward_probe
    )


def _observe_backend(
    torch: Any,
    module: Any,
    spec: LayerSpec,
    inp: InputSpec,
    make: Callable[..., Any],
    training: bool,
) -> str | None:
    """The kernel torch runs for this module and input, observed on a one-step input (two for
    uneven packed lengths) of the same batch, dtype, device and packing: the choice does not
    depend on the length."""
    from rnnshape.torchrun.backend import observe_backend

    # Two steps where packed lengths differ: torch runs uniform packed lengths as a padded
    # batch (oneDNN for an LSTM), so the short input must keep them uneven.
    uneven = inp.lengths is not None and len(set(inp.lengths)) > 1
    short = _short_input(spec, inp, 2 if uneven else 1)
    x = make_input_tensor(torch, spec, short, make)
    hx = hx_of(spec, initial_states(spec, short, make))
    if training:
        module.train()
    try:
        return observe_backend(torch, pass_function(torch, module, spec, x, hx, training))
    finally:
        if training:
            module.zero_grad(set_to_none=True)
            module.eval()
