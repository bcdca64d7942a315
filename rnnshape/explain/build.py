"""Build an explanation: gate blocks, equations and diagram of one layer on one input."""

from __future__ import annotations

from collections.abc import Mapping

from rnnshape.explain.diagram import diagram
from rnnshape.explain.equations import equations
from rnnshape.explain.kernel import predict_backend
from rnnshape.explain.legend import explanation_notes
from rnnshape.explain.parts import Explanation, GateBlock
from rnnshape.family import Dtype, InputSpec, LayerSpec
from rnnshape.formulas import (
    ParameterShape,
    TensorShape,
    elide,
    listed_parameters,
    parameter_count,
    parameters_per_direction,
    tensor_shapes,
)

_ROLE_PREFIX = {"weight_ih": "W_i", "weight_hh": "W_h", "bias_ih": "b_i", "bias_hh": "b_h"}
_RNN_NAMES = {"weight_ih": "W_ih", "weight_hh": "W_hh", "bias_ih": "b_ih", "bias_hh": "b_hh"}


def explain(
    spec: LayerSpec,
    inp: InputSpec,
    parameters: list[ParameterShape] | None = None,
    tensors: list[TensorShape] | None = None,
    *,
    device: str = "cpu",
    dtype: Dtype | str = Dtype.FLOAT32,
    training: bool = False,
    facts: Mapping[str, object] | None = None,
) -> Explanation:
    """Gate blocks, equations with shapes, the unrolled graph of ``spec`` on ``inp`` and the
    kernel torch picks on ``device`` at ``dtype``.

    ``parameters`` and ``tensors`` are the formulas' (computed here when not given);
    ``parameters`` may be the elided listing, whose gate blocks are elided the same way.
    ``facts``: torch's switches (``torchrun.backend.backend_facts``); None when no torch was
    asked (``--dry-run``), and the kernel is then marked as predicted."""
    if parameters is None:
        parameters = listed_parameters(spec)[0]
    if tensors is None:
        tensors = tensor_shapes(spec, inp)
    blocks = gate_blocks(spec, parameters)
    shown, _ = elide(blocks)
    return Explanation(
        gates=shown,
        gates_omitted=gate_count(spec) - len(shown),
        equations=tuple(equations(spec, inp, tensors)),
        diagram=diagram(spec, inp, tensors),
        notes=tuple(explanation_notes(spec, inp)),
        kernel=predict_backend(
            spec, inp, device_kind=device, dtype=dtype, training=training, facts=facts
        ),
    )


def gate_blocks(spec: LayerSpec, parameters: list[ParameterShape]) -> list[GateBlock]:
    """Every gate block of every parameter, in ``named_parameters()`` order."""
    out = []
    h = spec.hidden_size
    for p in parameters:
        if p.role == "weight_hr":
            out.append(
                GateBlock("W_proj", None, p.name, (0, p.shape[0]), p.shape, p.layer, p.direction)
            )
        elif not p.gates:
            out.append(
                GateBlock(
                    _RNN_NAMES[p.role],
                    None,
                    p.name,
                    (0, p.shape[0]),
                    p.shape,
                    p.layer,
                    p.direction,
                )
            )
        else:
            for i, gate in enumerate(p.gates):
                out.append(
                    GateBlock(
                        f"{_ROLE_PREFIX[p.role]}{gate}",
                        gate,
                        p.name,
                        (i * h, (i + 1) * h),
                        (h, *p.shape[1:]),
                        p.layer,
                        p.direction,
                    )
                )
    return out


def gate_count(spec: LayerSpec) -> int:
    """How many gate blocks every parameter holds together (closed form)."""
    blocks = spec.mode.gate_count if spec.mode.gates else 1
    projection = 1 if spec.proj_size > 0 else 0  # weight_hr: one block, not one a gate
    per_direction = (parameters_per_direction(spec) - projection) * blocks + projection
    return per_direction * parameter_count(spec) // parameters_per_direction(spec)
