"""How a report is produced: the one validated run-options value (no torch here).

The command line, the Python API, ``rnnshape check --run`` and the torch package all take a
``RunOptions``; it is validated once, when it is made, so nothing downstream checks again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from rnnshape.errors import SpecError

from .layer import check_device_name, parse_dtype
from .table import Dtype

# A real run estimated to take longer than this is refused unless the limit is raised.
DEFAULT_MAX_SECONDS = 60.0
# Untimed passes before a bench's timed ones: first calls set up kernels and caches.
BENCH_WARMUP = 3


class BenchRequest(NamedTuple):
    """Time ``runs`` passes after ``warmup`` untimed ones; with ``backward``, forward+backward."""

    runs: int
    backward: bool = False
    warmup: int = BENCH_WARMUP


@dataclass(frozen=True)
class RunOptions:
    """Where and how a layer runs: validated when made (``SpecError`` names the first broken
    option; ``RunOptions.problems`` lists them all without raising).

    ``device``: cpu, cuda, cuda:N, mps or auto. ``dtype``: a ``Dtype`` or its name.
    ``seed``: the random seed of the parameters and inputs. ``bench=N``: time N passes after
    the verified one (``backward``: forward + backward). ``max_seconds``: refuse a run
    estimated to take longer (``None``: no limit). ``dry_run``: the formulas only, no torch.
    """

    device: str = "cpu"
    dtype: Dtype = Dtype.FLOAT32
    seed: int = 0
    bench: int | None = None
    backward: bool = False
    max_seconds: float | None = DEFAULT_MAX_SECONDS
    dry_run: bool = False

    def __post_init__(self) -> None:
        problems = self.problems(
            device=self.device,
            dtype=self.dtype,
            seed=self.seed,
            bench=self.bench,
            backward=self.backward,
            max_seconds=self.max_seconds,
            dry_run=self.dry_run,
        )
        if problems:
            raise problems[0]
        object.__setattr__(self, "dtype", parse_dtype(self.dtype))
        if self.max_seconds is not None:
            object.__setattr__(self, "max_seconds", float(self.max_seconds))

    @staticmethod
    def problems(
        *,
        device: object = "cpu",
        dtype: object = Dtype.FLOAT32,
        seed: object = 0,
        bench: object = None,
        backward: object = False,
        max_seconds: object = DEFAULT_MAX_SECONDS,
        dry_run: object = False,
    ) -> list[SpecError]:
        """Every rule the given options break, in the order of the fields (one pass)."""
        found: list[SpecError] = []

        def check(rule: object, *args: object) -> None:
            try:
                rule(*args)  # type: ignore[operator]
            except SpecError as exc:
                found.append(exc)

        check(check_device_name, device)
        check(parse_dtype, dtype)
        check(_check_seed, seed)
        check(_check_flag, "backward", backward)
        check(_check_flag, "dry_run", dry_run)
        check(_check_bench, bench, backward, dry_run)
        check(_check_max_seconds, max_seconds)
        return found

    @property
    def bench_request(self) -> BenchRequest | None:
        """What the bench times, or None without ``bench``."""
        if self.bench is None:
            return None
        return BenchRequest(runs=self.bench, backward=self.backward)

    @property
    def training(self) -> bool:
        """The run keeps autograd's activations and gradients (a backward bench)."""
        return self.bench is not None and self.backward


def _check_seed(seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SpecError("seed", f"{seed!r} must be an integer from 0 to 2**63 - 1")


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise SpecError(name, f"must be true or false, got {value!r}", kind="wrong_type")


def _check_bench(bench: object, backward: object, dry_run: object) -> None:
    if bench is None:
        if backward is True:
            raise SpecError(
                "backward",
                "needs {bench} N: it times forward plus backward passes",
                kind="unsupported",
            )
        return
    if isinstance(bench, bool) or not isinstance(bench, int):
        raise SpecError("bench", f"must be an integer, got {bench!r}", kind="wrong_type")
    if bench < 1:
        raise SpecError("bench", f"{bench} must be at least 1")
    if dry_run is True:
        raise SpecError(
            "bench",
            "cannot be combined with {dry_run}: timing needs a real run",
            kind="unsupported",
        )


def _check_max_seconds(max_seconds: object) -> None:
    if max_seconds is None:
        return
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, (int, float)):
        raise SpecError("max_seconds", f"must be a number, got {max_seconds!r}", kind="wrong_type")
    if not max_seconds > 0:  # also refuses NaN
        raise SpecError("max_seconds", f"{max_seconds!r} must be a positive number of seconds")
