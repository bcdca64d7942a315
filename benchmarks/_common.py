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


def measure(argv: list[str]) -> tuple[float, int, int]:
    """Seconds, peak RSS in bytes and exit status of one whole process."""
    import os
    import time

    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        if code != 0:
            sys.stderr.write(proc.stderr.read().decode())
        proc.stderr.close()
    return elapsed, usage.ru_maxrss * 1024, code  # ru_maxrss is KiB on Linux


def report(label: str, argv: list[str], runs: int) -> None:
    """Print the median and min wall time and the peak RSS of ``runs`` whole processes."""
    import statistics

    results = [measure(argv) for _ in range(runs)]
    times = [t for t, _, _ in results]
    peak = max(r for _, r, _ in results)
    codes = {c for _, _, c in results}
    print(
        f"{label:<34} median {statistics.median(times):6.3f} s   min {min(times):6.3f} s   "
        f"peak RSS {peak / 2**20:7.1f} MiB   exit {sorted(codes)}"
    )
