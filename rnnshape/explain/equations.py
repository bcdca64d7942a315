"""The docs' equations for each recurrence, every term with its shape for this run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rnnshape.explain.legend import rows
from rnnshape.explain.parts import Equation, Term
from rnnshape.family import InputSpec, LayerSpec
from rnnshape.formulas import TensorShape
from rnnshape.text import DOT, shape_text


@dataclass(frozen=True)
class _Step:
    """One step's names and widths, shared by every recurrence's equations."""

    spec: LayerSpec
    n: tuple[int, ...]  # the rows: (N,) or () unbatched
    in_width: int  # x's width: H_in at layer 0, D·H_out above
    layers: tuple[int, int] | None

    @property
    def cell(self) -> bool:
        return self.spec.mode.is_cell

    def name(self, layer_name: str, cell_name: str) -> str:
        return cell_name if self.cell else layer_name

    @property
    def t(self) -> str:
        """The subscript of a gate: ``i_t`` in a layer, ``i`` in a cell."""
        return "" if self.cell else "_t"

    def affine(self, gate: str, hidden: str = "") -> tuple[str, list[Term]]:
        """``W_ii x_t + b_ii + W_hi h_{t-1} + b_hi`` and its terms."""
        spec, n = self.spec, self.n
        h, h_out, bias = spec.hidden_size, spec.h_out, spec.bias
        x, h_prev = self.name("x_t", "x"), self.name("h_{t-1}", "h_0")
        w_i, w_h, b_i, b_h = (f"W_i{gate}", f"W_h{gate}", f"b_i{gate}", f"b_h{gate}")
        parts = [f"{w_i} {x}"] + ([b_i] if bias else [])
        terms = [Term(w_i, (h, self.in_width)), Term(x, (*n, self.in_width))]
        terms += [Term(b_i, (h,))] if bias else []
        rec = f"{w_h} {h_prev}" + (f" + {b_h}" if bias else "")
        parts.append(hidden.format(rec) if hidden else rec)
        terms += [Term(w_h, (h, h_out)), Term(h_prev, (*n, h_out))]
        terms += [Term(b_h, (h,))] if bias else []
        return " + ".join(parts), terms


def _rnn(step: _Step) -> list[Equation]:
    spec, n, bias = step.spec, step.n, step.spec.bias
    h = spec.hidden_size
    x, h_prev = step.name("x_t", "x"), step.name("h_{t-1}", "h_0")
    act = "tanh" if spec.nonlinearity == "tanh" else "ReLU"
    parts = [f"{x} W_ihᵀ"] + (["b_ih"] if bias else []) + [f"{h_prev} W_hhᵀ"]
    parts += ["b_hh"] if bias else []
    terms = [Term(x, (*n, step.in_width)), Term("W_ih", (h, step.in_width))]
    terms += [Term("b_ih", (h,))] if bias else []
    terms += [Term(h_prev, (*n, h)), Term("W_hh", (h, h))]
    terms += [Term("b_hh", (h,))] if bias else []
    return [
        Equation(
            step.name("h_t", "h_1"),
            f"{act}({' + '.join(parts)})",
            tuple(terms),
            (*n, h),
            step.layers,
            note=f"nonlinearity={spec.nonlinearity!r}",
        )
    ]


def _lstm(step: _Step) -> list[Equation]:
    spec, n, t, layers = step.spec, step.n, step.t, step.layers
    h, h_out = spec.hidden_size, spec.h_out
    c_prev, c_new = step.name("c_{t-1}", "c_0"), step.name("c_t", "c_1")
    h_new = step.name("h_t", "h_1")
    eqs = []
    for gate, fn in (("i", "σ"), ("f", "σ"), ("g", "tanh"), ("o", "σ")):
        rhs, terms = step.affine(gate)
        eqs.append(Equation(f"{gate}{t}", f"{fn}({rhs})", tuple(terms), (*n, h), layers))
    g = [Term(f"{k}{t}", (*n, h)) for k in ("i", "f", "g", "o")]
    eqs.append(
        Equation(
            c_new,
            f"f{t} ⊙ {c_prev} + i{t} ⊙ g{t}",
            (g[1], Term(c_prev, (*n, h)), g[0], g[2]),
            (*n, h),
            layers,
        )
    )
    if spec.proj_size > 0:
        eqs.append(
            Equation(
                h_new,
                f"W_proj(o{t} ⊙ tanh({c_new}))",
                (Term("W_proj", (h_out, h)), g[3], Term(c_new, (*n, h))),
                (*n, h_out),
                layers,
                note=(
                    "W_proj is the projection weight_hr_l[k] "
                    f"({h_out}×{h}, proj_size×hidden_size), a parameter of its own, which "
                    "PyTorch's docs write W_hr; rnnshape keeps W_hr for one thing only, "
                    "GRU's reset-gate rows of weight_hh"
                ),
            )
        )
    else:
        eqs.append(
            Equation(h_new, f"o{t} ⊙ tanh({c_new})", (g[3], Term(c_new, (*n, h))), (*n, h), layers)
        )
    return eqs


def _gru(step: _Step) -> list[Equation]:
    spec, n, t, layers = step.spec, step.n, step.t, step.layers
    h = spec.hidden_size
    h_prev = step.name("h_{t-1}", "h_0")
    eqs = []
    for gate in ("r", "z"):
        rhs, terms = step.affine(gate)
        owner = step.name("weight_hh_l[k]", "weight_hh")
        note = (
            f"W_hr is the reset-gate block {owner}[0:{h}, :]; LSTM's projection "
            "weight_hr_l[k] is W_proj"
            if gate == "r"
            else ""
        )
        eqs.append(Equation(f"{gate}{t}", f"σ({rhs})", tuple(terms), (*n, h), layers, note))
    rhs, terms = step.affine("n", f"r{t} ⊙ ({{}})")
    terms.append(Term(f"r{t}", (*n, h)))
    eqs.append(Equation(f"n{t}", f"tanh({rhs})", tuple(terms), (*n, h), layers))
    eqs.append(
        Equation(
            step.name("h_t", "h_1"),
            f"(1 - z{t}) ⊙ n{t} + z{t} ⊙ {h_prev}",
            (Term(f"z{t}", (*n, h)), Term(f"n{t}", (*n, h)), Term(h_prev, (*n, h))),
            (*n, h),
            layers,
        )
    )
    return eqs


# One step's equations, by the family's recurrence (``Family.recurrence.name``).
STEP_EQUATIONS: dict[str, Callable[[_Step], list[Equation]]] = {
    "rnn": _rnn,
    "lstm": _lstm,
    "gru": _gru,
}


def _step_equations(
    spec: LayerSpec, inp: InputSpec, in_width: int, layers: tuple[int, int] | None
) -> list[Equation]:
    step = _Step(spec, rows(inp), in_width, layers)
    return STEP_EQUATIONS[spec.mode.family.recurrence.name](step)


def _concat_text(spec: LayerSpec) -> str:
    if spec.num_directions == 2:
        return "[h_t forward ; h_t reverse]"
    return "h_t"


def equations(spec: LayerSpec, inp: InputSpec, tensors: list[TensorShape]) -> list[Equation]:
    """The docs' equations for this class, each term with its shape for this run."""
    if spec.mode.is_cell:
        return _step_equations(spec, inp, spec.input_size, None)
    n = rows(inp)
    d, h_out, last = spec.num_directions, spec.h_out, spec.num_layers - 1
    wide = d * h_out
    eqs = _step_equations(spec, inp, spec.input_size, (0, 0))
    directions = [Term(f"h_t {name}", (*n, h_out)) for name in ("forward", "reverse")[:d]]
    if spec.num_layers > 1:
        dropout = spec.dropout > 0
        eqs.append(
            Equation(
                "x_t",
                ("δ ⊙ " if dropout else "") + f"{_concat_text(spec)} of layer k-1",
                tuple(directions) + ((Term("δ", (*n, wide)),) if dropout else ()),
                (*n, wide),
                (1, last),
                note=(
                    f"layer k ≥ 1 reads the previous layer's output, D·H_out = {d}{DOT}{h_out} "
                    "wide"
                    + (
                        f"; δ is dropout's mask, 0 with probability {spec.dropout} "
                        "(training mode only)"
                        if dropout
                        else ""
                    )
                ),
            )
        )
        eqs += _step_equations(spec, inp, wide, (1, last))
    state = (d * spec.num_layers, *n)
    eqs.append(
        Equation(
            "h_{t-1}",
            "h_0[k·D+d] at the first step (t = 0 forward, t = L-1 reverse)",
            (Term("h_0", (*state, h_out)),),
            (*n, h_out),
            (0, last),
            note="k is the layer, d the direction (0 forward, 1 reverse)",
        )
    )
    eqs.append(
        Equation(
            "h_n[k·D+d]",
            "h_t at the last step (t = L-1 forward, t = 0 reverse)",
            (Term("h_t", (*n, h_out)),),
            (*n, h_out),
            (0, last),
            note="packed: each sequence's last real step" if inp.packed else "",
        )
    )
    if spec.mode.family.has_cell_state:
        eqs.insert(
            len(eqs) - 1,
            Equation(
                "c_{t-1}",
                "c_0[k·D+d] at the first step (t = 0 forward, t = L-1 reverse)",
                (Term("c_0", (*state, spec.hidden_size)),),
                (*n, spec.hidden_size),
                (0, last),
            ),
        )
        eqs.append(
            Equation(
                "c_n[k·D+d]",
                "c_t at the last step (t = L-1 forward, t = 0 reverse)",
                (Term("c_t", (*n, spec.hidden_size)),),
                (*n, spec.hidden_size),
                (0, last),
            )
        )
    out_shape = next(t.shape for t in tensors if t.name == "output")
    eqs.append(
        Equation(
            "output[t]",
            f"{_concat_text(spec)} of layer {last}, for every t",
            tuple(directions),
            (*n, wide),
            (last, last),
            note=f"output is {shape_text(out_shape)}"
            + (" (a PackedSequence's data)" if inp.packed else ""),
        )
    )
    return eqs
