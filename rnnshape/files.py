"""Writing a file the user named, all or nothing: the one atomic replace (--svg, convert)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def replace_file(path: str | Path, write: Callable[[Path], object]) -> None:
    """Have ``write`` fill a temporary file in the target's folder, then rename it onto the
    target (through a symlink, onto the file it names), with the target's mode, or 0o666 less
    the umask for a new file. On any failure the temporary file is removed and the target
    is left as it was; a full disk shows at the latest when the data is synced, before the
    rename."""
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    # A short name of its own: the target's name may already be as long as a name can be.
    temporary = target.with_name(f".rnnshape-{secrets.token_hex(4)}.tmp")
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # ours alone
    try:
        write(temporary)
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
