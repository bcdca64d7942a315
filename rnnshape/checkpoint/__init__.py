"""``rnnshape infer``'s core: read tensor names, shapes and dtypes from a checkpoint without
loading its weights or running anything in it, then recover each recurrent module's config.

Formats are recognised by content (``sniff``), one reader each: ``safetensors``,
``torchzip`` (``torch.save``), ``legacy`` (torch's old pickle format) and ``torchscript``.
Every pickle goes through the restricted ``unpickler``. torch is imported only for
``--trust-torchscript``, by ``rnnshape.torchrun.torchscript``.
"""

from .infer import infer_checkpoint, infer_from, infer_state_dict
from .records import (
    Checkpoint,
    CheckpointError,
    CheckpointFormat,
    SkippedObject,
    StateDict,
    TensorInfo,
)
from .result import InferProblem, InferredModule, InferResult
from .sniff import read_checkpoint
from .state_dicts import find_state_dicts
from .torchscript import read_torchscript_trusted

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "CheckpointFormat",
    "InferProblem",
    "InferResult",
    "InferredModule",
    "SkippedObject",
    "StateDict",
    "TensorInfo",
    "find_state_dicts",
    "infer_checkpoint",
    "infer_from",
    "infer_state_dict",
    "read_checkpoint",
    "read_torchscript_trusted",
]
