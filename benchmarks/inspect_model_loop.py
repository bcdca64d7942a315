"""A decoder loop stepping an ``nn.LSTMCell`` STEPS times (default 3,000) through
``rnnshape.inspect_model``: seconds to inspect, seconds and characters of ``str(report)``
(what ``print`` shows), of the JSON document, and the process's peak RSS.

    python benchmarks/inspect_model_loop.py [STEPS]
"""

from __future__ import annotations

import json
import resource
import sys
import time

import torch
from torch import nn

import rnnshape


class Loop(nn.Module):
    def __init__(self, steps: int) -> None:
        super().__init__()
        self.cell = nn.LSTMCell(4, 8)
        self.steps = steps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = c = torch.zeros(x.shape[0], 8)
        for _ in range(self.steps):
            h, c = self.cell(x, (h, c))
        return h


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    start = time.perf_counter()
    report = rnnshape.inspect_model(Loop(steps), torch.zeros(2, 4))
    inspected = time.perf_counter()
    text = str(report)
    printed = time.perf_counter()
    document = json.dumps(report.to_dict())
    dumped = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # KiB on Linux
    print(f"{steps:,} calls ({len(report.calls):,} listed, {report.calls_omitted:,} elided)")
    print(f"inspect_model  {inspected - start:6.2f} s")
    print(f"str(report)    {printed - inspected:6.2f} s  {len(text):>12,} characters")
    print(f"to_dict JSON   {dumped - printed:6.2f} s  {len(document):>12,} characters")
    print(f"peak RSS       {peak:,} MiB")


if __name__ == "__main__":
    main()
