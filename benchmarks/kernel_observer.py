"""What observing the kernel costs: torch's RecordFunction profiler (the one
``rnnshape.torchrun.backend.observe_backend`` uses) against Kineto's ``torch.profiler`` and a
``TorchDispatchMode``, on a small LSTM, each in a fresh process.

    python benchmarks/kernel_observer.py [--runs 20]

Prints, per observer: the import it needs, its first call (any lazy start-up included), the
median of the next calls, the plain call for comparison, and the kernel each one saw.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time
import torch
which, runs, backward = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
lstm = torch.nn.LSTM(8, 8)
x = torch.randn(2, 3, 8)

def call():
    if backward:
        lstm.train()
        lstm(x)[0].sum().backward()
    else:
        lstm.eval()
        with torch.inference_mode():
            lstm(x)

began = time.perf_counter()
if which == "recordfunction":
    from torch.autograd.profiler_legacy import profile

    def observe():
        with profile() as p:
            call()
        return {e.name for e in p.function_events}
elif which == "kineto":
    from torch.profiler import ProfilerActivity, profile

    def observe():
        with profile(activities=[ProfilerActivity.CPU]) as p:
            call()
        return {e.name for e in p.events()}
else:
    from torch.utils._python_dispatch import TorchDispatchMode

    class Seen(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.names = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.add(func._schema.name)
            return func(*args, **(kwargs or {}))

    def observe():
        with Seen() as seen:
            call()
        return seen.names
imported = time.perf_counter() - began
call()  # warm the module itself, so "first" is the observer's own start-up
began = time.perf_counter()
names = observe()
first = time.perf_counter() - began
times = []
for _ in range(runs):
    began = time.perf_counter()
    observe()
    times.append(time.perf_counter() - began)
plain = []
for _ in range(runs):
    began = time.perf_counter()
    call()
    plain.append(time.perf_counter() - began)
kernels = sorted(n for n in names if "rnn" in n or "lstm" in n)
print(json.dumps({"import_ms": imported * 1e3, "first_ms": first * 1e3,
                  "median_ms": statistics.median(times) * 1e3,
                  "plain_ms": statistics.median(plain) * 1e3, "kernels": kernels}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    print(f"{'observer':<15} {'pass':<9} {'import':>8} {'first':>9} {'median':>8} {'plain':>7}  "
          "kernel ops seen  (ms; stderr lines)")
    for which in ("recordfunction", "kineto", "dispatchmode"):
        for backward in (False, True):
            out = subprocess.run(
                [sys.executable, "-c", CHILD, which, str(runs), "1" if backward else "0"],
                capture_output=True, text=True, check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            noise = len(out.stderr.splitlines())
            kind = "fwd+bwd" if backward else "forward"
            print(f"{which:<15} {kind:<9} {r['import_ms']:8.1f} {r['first_ms']:9.1f} "
                  f"{r['median_ms']:8.3f} {r['plain_ms']:7.3f}  {','.join(r['kernels'])}"
                  f"  ({noise})")


if __name__ == "__main__":
    main()
