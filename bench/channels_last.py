"""Benchmark: fp32 training steps on the CPU, NCHW against channels_last (NHWC), side by side, per model and size.

Why the trainer puts every model of 1M parameters or more into channels_last on a CPU even without bf16
(cnndemo.train.device.channels_last), and what progressive resizing (--sizes) saves per image.
Usage: python bench/channels_last.py [--models googlenet_cifar resnet18_cifar lenet5] [--sizes 16 24 32]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnndemo.models import get_model, model_info  # noqa: E402
from cnndemo.train import device_name  # noqa: E402
from cnndemo.train.loop import loss_of  # noqa: E402


def images_per_s(name: str, side: int, nhwc: bool, batch: int, steps: int) -> float:
    """Training images per second of plain fp32 SGD steps (the first step, a warm-up, is not timed)."""
    torch.manual_seed(0)
    model = get_model(name, weights=None).train()
    fmt = torch.channels_last if nhwc else torch.contiguous_format
    model = model.to(memory_format=fmt)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, model_info(name).channels, side, side).contiguous(memory_format=fmt)
    y = torch.randint(0, 10, (batch,))
    times = []
    for _ in range(steps + 1):
        t0 = time.perf_counter()
        loss, _ = loss_of(model(x), y, 0.0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return batch / (sum(times[1:]) / steps)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["googlenet_cifar", "resnet18_cifar", "lenet5"])
    p.add_argument("--sizes", nargs="+", type=int, default=[16, 24, 32])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=2)
    args = p.parse_args()
    print(f"hardware: {device_name(torch.device('cpu'))}, torch {torch.__version__}, fp32, batch {args.batch_size}")
    for name in args.models:
        base = None
        for side in args.sizes:
            try:
                images_per_s(name, side, False, 2, 1)
            except RuntimeError:  # fixed-size heads (LeNet's Linear(400, ...)) take one input size only
                print(f"{name} {side}px: this model does not take {side} px images; skipped")
                continue
            nchw, nhwc = (images_per_s(name, side, f, args.batch_size, args.steps) for f in (False, True))
            base = base or nhwc
            print(f"{name} {side}px: NCHW {nchw:.1f} img/s, channels_last {nhwc:.1f} img/s, "
                  f"ratio {nhwc / nchw:.2f}x; channels_last cost per image vs {args.sizes[0]}px: "
                  f"{base / nhwc:.2f}x", flush=True)


if __name__ == "__main__":
    main()
