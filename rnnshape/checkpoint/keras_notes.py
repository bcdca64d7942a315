"""What a Keras layer computes that no torch class does (problems), and what else differs
from torch's call for whoever ports the model (notes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rnnshape.family import Mode

from .keras_config import KERAS_CLASSES, activation_text, config_of
from .keras_h5 import KerasFile

_WEIGHTS_ONLY_NOTE = (
    "the file records no activations: this assumes Keras's current defaults "
    "(activation=tanh, recurrent_activation=sigmoid{extra}); Keras 2.2 and earlier defaulted "
    "LSTM and GRU to recurrent_activation=hard_sigmoid, which torch does not have: check "
    "the model's code"
)


def not_equivalent(
    cls: str,
    options: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    reset_after: bool | None,
    known: bool,
    directions: int,
) -> list[str]:
    """Each option that makes the layer compute what no torch class does."""
    spec_cls = KERAS_CLASSES[cls]
    torch_class = f"nn.{spec_cls.mode.torch_class}"
    messages = []
    if cls == "GRU" and reset_after is False:
        default = "" if "reset_after" in options else " (Keras 2.2's default)"
        messages.append(
            f"reset_after=False{default}: the reset gate multiplies h before the recurrent "
            f"kernel; {torch_class} applies it after (reset_after=True)"
        )
    if not known:
        return messages
    activation = activation_text(options.get("activation", "tanh"))
    if spec_cls.mode is Mode.RNN:
        if activation not in ("tanh", "relu"):
            messages.append(f"activation={activation!r}: {torch_class} has tanh or relu only")
    elif activation != "tanh":
        messages.append(f"activation={activation!r}: {torch_class} uses tanh")
    if spec_cls.mode is not Mode.RNN and not cls.startswith("CuDNN"):
        recurrent_activation = activation_text(options.get("recurrent_activation", "sigmoid"))
        if recurrent_activation != "sigmoid":
            messages.append(
                f"recurrent_activation={recurrent_activation!r}: {torch_class} uses sigmoid"
            )
    if directions == 2 and options.get("go_backwards"):
        messages.append(
            "go_backwards=True on the layer a Bidirectional wraps: its forward direction reads "
            f"the sequence reversed, which {torch_class}(bidirectional=True) never does"
        )
    backward = config_of(wrapper.get("backward_layer")) if wrapper else {}
    for key in ("units", "activation", "recurrent_activation", "use_bias", "reset_after"):
        if key in backward and key in options and backward[key] != options[key]:
            messages.append(
                f"backward_layer {key}={backward[key]!r}, but the forward layer has "
                f"{options[key]!r}: {torch_class} runs one configuration in both directions"
            )
    if directions == 1 and options.get("go_backwards"):
        messages.append(
            f"go_backwards=True: the layer reads the sequence reversed and returns it "
            f"reversed; {torch_class} runs a reverse direction only next to the forward one "
            "(bidirectional=True)"
        )
    return messages


def layer_notes(
    cls: str,
    options: Mapping[str, Any],
    wrapper: Mapping[str, Any],
    known: bool,
    reset_after: bool | None,
    bias: bool,
    keras: KerasFile,
) -> tuple[str, ...]:
    """What else differs from torch's call, for whoever ports the model."""
    notes: list[str] = []
    if not known:
        extra = ""
        if cls == "GRU" and reset_after is None:
            extra = ", reset_after=True: without a bias the weights do not tell"
        notes.append(_WEIGHTS_ONLY_NOTE.format(extra=extra))
    if bias and KERAS_CLASSES[cls].bias == "one":
        notes.append("Keras has one bias: it goes to bias_ih; torch's bias_hh is zero")
    if known:
        if options.get("time_major"):
            notes.append(
                "time_major=True: the input is [time, batch, features] (batch_first=False)"
            )
        else:
            notes.append("Keras takes [batch, time, features]: batch_first=True")
        if not options.get("return_sequences", False) and wrapper:
            notes.append(
                "return_sequences=False: Keras returns both directions' final states, torch's "
                "torch.cat([h_n[0], h_n[1]], -1) (not output[:, -1], whose backward half has "
                "seen one step)"
            )
        elif not options.get("return_sequences", False):
            notes.append(
                "return_sequences=False: Keras returns the last step's output, torch's h_n[-1]"
            )
        if options.get("return_state"):
            notes.append(
                "return_state=True: Keras also returns the final states (torch's h_n, c_n)"
            )
        if options.get("stateful"):
            notes.append(
                "stateful=True: Keras carries the state between batches; pass h_0 yourself"
            )
        dropouts = [k for k in ("dropout", "recurrent_dropout") if options.get(k)]
        if dropouts:
            notes.append(
                f"{' and '.join(f'{k}={options[k]}' for k in dropouts)}: applied in training only "
                "(torch's dropout is between layers, not inside one)"
            )
    if wrapper:
        merge = activation_text(wrapper.get("merge_mode", "concat"))
        if merge != "concat":
            notes.append(
                f"merge_mode={merge!r}: torch concatenates the two directions' outputs; "
                "combine output[..., :H] and output[..., H:] yourself (the weights map as they "
                "are)"
            )
    return tuple(notes)
