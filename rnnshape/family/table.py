"""The family table: one entry per torch recurrent class, read by everything else."""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Mode(str, Enum):
    """The six torch classes rnnshape understands, by their command-line name.

    One concept, spelled three ways by the contracts: ``Mode`` in code, ``type`` in config
    files (``type: lstm``), ``module`` in JSON documents (the torch class, ``"LSTM"``).
    Everything a mode means lives in its :class:`Family` entry, ``mode.family``.
    """

    RNN = "rnn"
    LSTM = "lstm"
    GRU = "gru"
    RNN_CELL = "rnn-cell"
    LSTM_CELL = "lstm-cell"
    GRU_CELL = "gru-cell"

    @property
    def family(self) -> Family:
        return FAMILIES[self]

    @property
    def is_cell(self) -> bool:
        return FAMILIES[self].cell

    @property
    def torch_class(self) -> str:
        return FAMILIES[self].torch_class

    @property
    def gates(self) -> tuple[str, ...]:
        """Gate blocks stacked in ``weight_ih``/``weight_hh`` rows, in torch's order."""
        return FAMILIES[self].gates

    @property
    def gate_count(self) -> int:
        return FAMILIES[self].gate_count

    @property
    def kwargs(self) -> tuple[str, ...]:
        """The keyword arguments of the torch class's documented signature, in its order."""
        return FAMILIES[self].kwargs

    @classmethod
    def parse(cls, name: str) -> Mode:
        """Accept ``lstm``, ``lstm-cell``, ``lstm_cell``, ``LSTMCell`` and the like."""
        key = name.strip()
        for mode in cls:
            if key in (mode.value, mode.value.replace("-", "_"), mode.torch_class):
                return mode
        lowered = key.lower().replace("_", "-")
        for mode in cls:
            if lowered in (mode.value, mode.torch_class.lower()):
                return mode
        raise ValueError(name)

    @classmethod
    def with_gates(cls, gate_count: int, *, cell: bool) -> Mode | None:
        """The layer (or cell) whose ``weight_hh`` stacks ``gate_count`` blocks, if any."""
        for mode in cls:
            if mode.is_cell == cell and mode.gate_count == gate_count:
                return mode
        return None


class Recurrence(NamedTuple):
    """The equations a layer and its cell share, and the constants cost and memory need."""

    name: str  # "rnn", "lstm" or "gru"
    gates: tuple[str, ...]  # blocks stacked in weight rows, torch's order; () for one block
    states: tuple[str, ...]  # recurrent states: ("h",) or ("h", "c")
    # Element-wise FLOPs per hidden unit, step, row and direction by the docs' equations:
    # (without bias, added by the bias vector pair). See formulas.cost.
    elementwise_flops: tuple[int, int]
    # Values autograd keeps per step, row and direction, in units of hidden_size, besides
    # h_t itself. See formulas.memory.
    saved_per_step: int


RNN = Recurrence(
    # h' = act(W_ih x + b_ih + W_hh h + b_hh): 1 add, 1 activation; 2 bias adds. The
    # activation's output is h_t: nothing else is kept.
    "rnn",
    gates=(),
    states=("h",),
    elementwise_flops=(2, 2),
    saved_per_step=0,
)
LSTM = Recurrence(
    # 4 gate sums + 4 activations + c' = f*c + i*g (3) + h' = o*tanh(c') (2); 8 bias adds.
    # Keeps the four gate activations, c_t and tanh(c_t).
    "lstm",
    gates=("i", "f", "g", "o"),
    states=("h", "c"),
    elementwise_flops=(13, 8),
    saved_per_step=6,
)
GRU = Recurrence(
    # r, z: sum + sigmoid (2 each); n: r*(W_hn h) + W_in x, tanh (3); h' = (1-z)*n + z*h (4);
    # 6 bias adds. Keeps r, z, n and W_hn h + b_hn (needed for r's gradient).
    "gru",
    gates=("r", "z", "n"),
    states=("h",),
    elementwise_flops=(11, 6),
    saved_per_step=4,
)


class Family(NamedTuple):
    """One torch recurrent class: everything the rest of rnnshape needs to know about it.

    Adding a class means one entry in ``FAMILIES`` (and a ``Recurrence`` if its equations
    are new, with those equations in ``explain``), plus its tests; formulas, the torch
    runner, check, infer and the CLI read these fields instead of testing names.
    """

    torch_class: str  # "LSTM"
    recurrence: Recurrence
    cell: bool  # one time step: no seq, no num_layers, no PackedSequence
    kwargs: tuple[str, ...]  # the constructor's keyword arguments, in its signature's order
    summary: str  # the command's --help line
    example: str  # the command's --help epilog

    @property
    def gates(self) -> tuple[str, ...]:
        return self.recurrence.gates

    @property
    def gate_count(self) -> int:
        return max(1, len(self.recurrence.gates))

    @property
    def states(self) -> tuple[str, ...]:
        return self.recurrence.states

    @property
    def has_cell_state(self) -> bool:
        """LSTM's c: a second state, hidden_size wide even when h is projected."""
        return "c" in self.recurrence.states


_LAYER_COMMON = ("bias", "batch_first", "dropout", "bidirectional")
FAMILIES: dict[Mode, Family] = {
    Mode.RNN: Family(
        "RNN",
        RNN,
        cell=False,
        kwargs=("input_size", "hidden_size", "num_layers", "nonlinearity", *_LAYER_COMMON),
        summary="nn.RNN INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: an Elman RNN, tanh or relu.",
        example="Example: rnnshape rnn 10 20 3 --nonlinearity relu --no-bias",
    ),
    Mode.LSTM: Family(
        "LSTM",
        LSTM,
        cell=False,
        kwargs=("input_size", "hidden_size", "num_layers", *_LAYER_COMMON, "proj_size"),
        summary="nn.LSTM INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: gates i|f|g|o, optional projection.",
        example="Examples: rnnshape lstm 10 20 2 --seq 5 --batch 3 · "
        "rnnshape lstm 10 20 2 --proj-size 8 --bidirectional · rnnshape lstm 10 20 --lengths 5,3,2",
    ),
    Mode.GRU: Family(
        "GRU",
        GRU,
        cell=False,
        kwargs=("input_size", "hidden_size", "num_layers", *_LAYER_COMMON),
        summary="nn.GRU INPUT_SIZE HIDDEN_SIZE [NUM_LAYERS]: gates r|z|n.",
        example="Example: rnnshape gru 10 20 --bidirectional --batch-first --json",
    ),
    Mode.RNN_CELL: Family(
        "RNNCell",
        RNN,
        cell=True,
        kwargs=("input_size", "hidden_size", "bias", "nonlinearity"),
        summary="nn.RNNCell INPUT_SIZE HIDDEN_SIZE: one time step of an Elman RNN.",
        example="Example: rnnshape rnn-cell 10 20 --nonlinearity relu",
    ),
    Mode.LSTM_CELL: Family(
        "LSTMCell",
        LSTM,
        cell=True,
        kwargs=("input_size", "hidden_size", "bias"),
        summary="nn.LSTMCell INPUT_SIZE HIDDEN_SIZE: one time step of an LSTM.",
        example="Example: rnnshape lstm-cell 10 20 --batch 3",
    ),
    Mode.GRU_CELL: Family(
        "GRUCell",
        GRU,
        cell=True,
        kwargs=("input_size", "hidden_size", "bias"),
        summary="nn.GRUCell INPUT_SIZE HIDDEN_SIZE: one time step of a GRU.",
        example="Example: rnnshape gru-cell 10 20 --unbatched",
    ),
}
LAYER_MODES = tuple(m for m in Mode if not m.is_cell)
# Every constructor keyword any class takes, in signature order (the config-file keys).
TORCH_KEYS: tuple[str, ...] = tuple(dict.fromkeys(k for m in Mode for k in m.kwargs))
# The optional constructor keywords: everything after input_size and hidden_size.
OPTIONAL_KWARGS: tuple[str, ...] = TORCH_KEYS[2:]
INPUT_KEYS = ("seq", "batch", "unbatched", "lengths")


class KeywordFlag(NamedTuple):
    """How the layer commands spell one optional constructor keyword, and what a file says."""

    flag: str  # the option; a boolean on by default has its off form too: "--bias/--no-bias"
    in_weights: bool  # a checkpoint's weights (their names and shapes) record the value


# Every optional constructor keyword but num_layers (the third argument), in the order a
# command line writes them. The layer commands' options and ``infer``'s commands and
# unknown keywords derive from this table.
KEYWORD_FLAGS: dict[str, KeywordFlag] = {
    "bias": KeywordFlag("--bias/--no-bias", in_weights=True),
    "bidirectional": KeywordFlag("--bidirectional", in_weights=True),
    "proj_size": KeywordFlag("--proj-size", in_weights=True),
    "batch_first": KeywordFlag("--batch-first", in_weights=False),
    "dropout": KeywordFlag("--dropout", in_weights=False),
    "nonlinearity": KeywordFlag("--nonlinearity", in_weights=False),
}
# What weights cannot tell: a file knows these only when it stores the module's config.
NOT_IN_WEIGHTS: tuple[str, ...] = tuple(k for k, f in KEYWORD_FLAGS.items() if not f.in_weights)


def flag_words(key: str, value: object) -> list[str]:
    """The command-line words that set keyword ``key`` to ``value`` (a non-default value)."""
    flag = KEYWORD_FLAGS[key].flag
    on, _, off = flag.partition("/")
    if isinstance(value, bool):
        return [on if value else off]  # a default-off flag is written only when on
    return [flag, str(value)]


NONLINEARITIES = ("tanh", "relu")


class Dtype(str, Enum):
    """Floating-point types a run can use, by torch's name."""

    FLOAT32 = "float32"
    FLOAT64 = "float64"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"

    @property
    def itemsize(self) -> int:
        return {"float32": 4, "float64": 8, "float16": 2, "bfloat16": 2}[self.value]


def modes_with(param: str) -> tuple[Mode, ...]:
    """The modes whose torch class (or input) takes ``param``."""
    if param in ("seq", "lengths"):
        return LAYER_MODES
    if param in ("batch", "unbatched"):
        return tuple(Mode)
    return tuple(m for m in Mode if param in m.kwargs)
