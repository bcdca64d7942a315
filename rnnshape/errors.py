"""One exception family; the CLI maps each class to its documented exit code."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

# In a detail, "{lengths}" names another parameter; each front end spells it its own way.
_REF = re.compile(r"\{([a-z_]+)\}")

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class RnnShapeError(Exception):
    """An expected failure with a message meant for the user."""

    exit_code = EXIT_PROBLEMS

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(RnnShapeError):
    """The request cannot be honoured as given (bad value, missing device, too large)."""

    exit_code = EXIT_USAGE


class SpecError(UsageError):
    """A layer or input value that torch (or this tool) rejects.

    ``param`` is the torch keyword (``proj_size``) or input key (``lengths``); front ends
    show it under their own name (``--proj-size`` on the command line). ``kind`` is
    ``"value"`` for a value torch rejects, ``"wrong_type"`` for a value of the wrong type,
    ``"unsupported"`` for a parameter the chosen class does not have. ``{name}`` in
    ``detail`` refers to another parameter and is spelled like ``param``.
    """

    def __init__(self, param: str, detail: str, *, kind: str = "value") -> None:
        self.param = param
        self.detail = detail
        self.kind = kind
        super().__init__(self.render())

    def render(self, names: Mapping[str, str] | Callable[[str], str] | None = None) -> str:
        """The message with each parameter spelled as the front end names it: by a mapping
        (names it lacks stay as they are) or by a function of the name."""
        if callable(names):
            spell = names
        else:
            table = names or {}

            def spell(name: str) -> str:
                return table.get(name, name)

        detail = _REF.sub(lambda m: spell(m.group(1)), self.detail)
        return f"{spell(self.param)} {detail}"


class VerificationError(RnnShapeError):
    """torch and the formulas disagree: a bug in rnnshape, reported loudly."""

    exit_code = EXIT_PROBLEMS
