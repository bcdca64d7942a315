"""One call from constructor arguments (or a module) to a verified Report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from rnnshape.errors import SpecError, VerificationError
from rnnshape.formulas import parameter_shapes, symbols, tensor_shapes
from rnnshape.report import Report, TensorRow, notes_for
from rnnshape.spec import Dtype, InputSpec, LayerSpec, Mode, make_input, make_spec, spec_warnings

if TYPE_CHECKING:
    from rnnshape.torchrun.run import BenchRequest, Observation


def parse_dtype(dtype: Dtype | str) -> Dtype:
    try:
        return Dtype(dtype)
    except ValueError:
        names = ", ".join(d.value for d in Dtype)
        raise SpecError("dtype", f"{dtype!r} must be one of {names}") from None


def inspect(
    mode: Mode | str,
    input_size: int,
    hidden_size: int,
    num_layers: int | None = None,
    *,
    bias: bool | None = None,
    batch_first: bool | None = None,
    dropout: float | None = None,
    bidirectional: bool | None = None,
    proj_size: int | None = None,
    nonlinearity: str | None = None,
    seq: int | None = None,
    batch: int | None = None,
    unbatched: bool | None = None,
    lengths: Sequence[int] | None = None,
    device: str = "cpu",
    dtype: Dtype | str = Dtype.FLOAT32,
    seed: int = 0,
    run: bool = True,
    bench: int | None = None,
    backward: bool = False,
    progress: Callable[[int, int], None] | None = None,
    explain: bool = False,
) -> Report:
    """Describe ``nn.<Mode>(...)`` on the given input; with ``run`` verify it against torch.

    ``bench=N`` times N more passes (forward, or forward+backward with ``backward``).
    """
    spec = make_spec(
        mode,
        input_size,
        hidden_size,
        num_layers,
        bias=bias,
        batch_first=batch_first,
        dropout=dropout,
        bidirectional=bidirectional,
        proj_size=proj_size,
        nonlinearity=nonlinearity,
    )
    inp = make_input(spec, seq=seq, batch=batch, unbatched=unbatched, lengths=lengths)
    kind = parse_dtype(dtype)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpecError("seed", f"{seed} must be an integer from 0 to 2**63 - 1")
    request = bench_request(bench, backward, run)
    if not run:
        from rnnshape.torchrun.run import (
            check_device_name,
        )  # runner imports torch lazily, not at import

        check_device_name(device)
        report = build_report(spec, inp, device=device, dtype=kind.value, seed=seed)
        return replace(report, explain=explain)
    from rnnshape.torchrun.run import run as run_forward

    observation = run_forward(
        spec, inp, device=device, dtype=kind, seed=seed, bench=request, progress=progress
    )
    report = build_report(
        spec, inp, device=observation.device, dtype=kind.value, seed=seed, observation=observation
    )
    return replace(report, explain=explain)


def bench_request(bench: int | None, backward: bool, run: bool) -> BenchRequest | None:
    """Validate the bench options (no torch needed)."""
    from rnnshape.torchrun.run import BenchRequest

    if bench is None:
        if backward:
            raise SpecError(
                "backward",
                "needs {bench} N: it times forward plus backward passes",
                kind="unsupported",
            )
        return None
    if isinstance(bench, bool) or not isinstance(bench, int):
        raise SpecError("bench", f"must be an integer, got {bench!r}", kind="wrong_type")
    if bench < 1:
        raise SpecError("bench", f"{bench} must be at least 1")
    if not run:
        raise SpecError(
            "bench",
            "cannot be combined with {dry_run}: timing needs a real run",
            kind="unsupported",
        )
    return BenchRequest(runs=bench, backward=backward)


def inspect_module(module: Any, input: Any, hx: Any = None, *, seed: int = 0) -> Report:
    """Describe an existing ``nn.RNN``/``LSTM``/``GRU``/cell on a real input, verified."""
    from rnnshape.torchrun.run import observe_module

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
) -> Report:
    """Assemble the report from the formulas; with an observation, check them first."""
    params = parameter_shapes(spec)
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
    return Report(
        spec=spec,
        input=inp,
        device=device,
        dtype=dtype,
        parameters=tuple(params),
        tensors=rows,
        symbols=tuple(symbols(spec, inp)),
        ran_forward=observation is not None,
        seed=seed,
        notes=tuple(notes_for(spec, inp)),
        warnings=tuple(warnings),
        bench=observation.bench if observation is not None else None,
    )


def verify(
    spec: LayerSpec, params: Sequence[Any], tensors: Sequence[Any], observation: Observation
) -> None:
    """Raise VerificationError where torch and the formulas disagree (a bug in rnnshape)."""
    problems = []
    expected_config = spec.torch_kwargs()
    if observation.config != expected_config:
        problems.append(f"config: torch has {observation.config}, formulas {expected_config}")
    expected_params = [(p.name, p.shape) for p in params]
    if observation.parameters != expected_params:
        problems.append(
            f"parameters: torch has {observation.parameters}, formulas {expected_params}"
        )
    for t in tensors:
        seen = observation.tensors.get(t.name)
        if seen is None:
            problems.append(f"{t.name}: torch produced no such tensor")
        elif seen.shape != t.shape or seen.batch_sizes != t.batch_sizes:
            problems.append(
                f"{t.name}: torch gave shape {list(seen.shape)}"
                + (f" batch_sizes {list(seen.batch_sizes)}" if seen.batch_sizes else "")
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
