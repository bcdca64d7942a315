"""What the benchmark scripts share: the command to time, set up as an installed copy runs."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def console_script() -> list[str]:
    """The ``rnnshape`` script beside this interpreter (as in a venv or a pip install).

    ``shutil.which`` may find a version-manager shim first (pyenv's is a bash script that
    costs ~0.1 s per call), which would be timed as if it were rnnshape.
    """
    beside = Path(sys.executable).with_name("rnnshape")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("rnnshape")
    if found is None:
        sys.exit("install the package first: pip install -e .")
    return [found]


def compile_package() -> None:
    """Write rnnshape's bytecode, as pip does when it installs a package.

    An editable checkout under PYTHONDONTWRITEBYTECODE=1 never gets it, and every run would
    recompile rnnshape from source (~0.1 s).
    """
    import rnnshape

    package = Path(rnnshape.__file__).parent
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(package)], check=True)
