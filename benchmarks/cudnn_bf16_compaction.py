"""What bfloat16 costs on cuDNN when torch compacts the weights on every call.

torch's ``flatten_parameters()`` skips bfloat16 (``torch.backends.cudnn.is_acceptable``
lists float16, float32 and float64 only), so ATen copies the weights into one cuDNN buffer
on every call and warns "RNN module weights are not part of single contiguous chunk of
memory". This times, with CUDA events, one forward of the same layer:

- float16: weights flattened once (the reference: same element size, no copy);
- bfloat16 as built: compacted every call;
- bfloat16 after flattening the weights by hand (``torch._cudnn_rnn_flatten_weight``),
  where this torch and cuDNN accept it;
- the copy alone: the weights' bytes copied once, as the compaction does.

    python benchmarks/cudnn_bf16_compaction.py [--hidden 1024] [--layers 4] [--seq 256]
        [--batch 64] [--runs 30]

Needs a CUDA GPU (exits 2 without one).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import warnings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("hidden", 1024), ("layers", 4), ("seq", 256), ("batch", 64),
                          ("runs", 30)):
        parser.add_argument(f"--{name}", type=int, default=default)
    a = parser.parse_args()
    import torch
    import torch.backends.cudnn.rnn as cudnn_rnn

    if not torch.cuda.is_available():
        print("no CUDA device: nothing to measure", file=sys.stderr)
        return 2

    def median_ms(fn: object) -> float:
        assert callable(fn)
        for _ in range(3):
            fn()
        times = []
        for _ in range(a.runs):
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return statistics.median(times)

    def layer(dtype: torch.dtype) -> tuple[torch.nn.LSTM, torch.Tensor]:
        torch.manual_seed(0)
        lstm = torch.nn.LSTM(a.hidden, a.hidden, a.layers).to("cuda", dtype).eval()
        return lstm, torch.randn(a.seq, a.batch, a.hidden, device="cuda", dtype=dtype)

    def forward(lstm: torch.nn.LSTM, x: torch.Tensor) -> None:
        with torch.inference_mode():
            lstm(x)

    rows = []
    fp16, x16 = layer(torch.float16)
    rows.append(("float16 (flat weights)", median_ms(lambda: forward(fp16, x16))))
    bf16, xbf = layer(torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the compaction warning, on every call
        rows.append(("bfloat16 as built (compacted each call)",
                     median_ms(lambda: forward(bf16, xbf))))
        weights = list(bf16._flat_weights)
        try:
            with torch.no_grad():
                torch._cudnn_rnn_flatten_weight(  # as flatten_parameters() would
                    weights, 4, a.hidden, cudnn_rnn.get_cudnn_mode("LSTM"), a.hidden, 0,
                    a.layers, False, False,
                )
            rows.append(("bfloat16 flattened by hand", median_ms(lambda: forward(bf16, xbf))))
        except RuntimeError as exc:
            rows.append((f"bfloat16 flattened by hand: refused ({str(exc)[:60]})", float("nan")))
    flat = torch.cat([w.detach().reshape(-1) for w in bf16.parameters()])
    target = torch.empty_like(flat)
    rows.append((f"copy of the weights alone ({flat.numel() * 2 / 2**20:.1f} MiB)",
                 median_ms(lambda: target.copy_(flat))))
    print(f"LSTM({a.hidden}, {a.hidden}, {a.layers}) seq {a.seq} batch {a.batch} on "
          f"{torch.cuda.get_device_name()}, cuDNN {torch.backends.cudnn.version()}, "
          f"median of {a.runs} (ms):")
    for label, ms in rows:
        print(f"  {label:<55} {ms:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
