"""Benchmark: LeNet-5 (lenet5_mnist), one MNIST epoch on CPU; goal >= 97 % test accuracy in <= 15 s on 2 cores.

Runs the project's trainer (the same code as the CLI and the app) with its default thread choice (one thread for
tiny models) and, side by side, with all cores, to show why that default exists.
Usage: python bench/train_lenet.py [--data-root ../shared/data] [--batch-size 128] [--lr 0.004]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from cnndemo.data import DataSettings, load_splits  # noqa: E402
from cnndemo.train import TrainConfig, device_name, train  # noqa: E402


def one_epoch(data, threads: int | None, args, out: str) -> dict:
    """Train one epoch; return wall time (data already in memory) and test accuracy."""
    cfg = TrainConfig(model="lenet5_mnist", dataset="mnist", epochs=1, batch_size=args.batch_size, lr=args.lr,
                      device="cpu", threads=threads, log_every=50, out=out)
    t0 = time.perf_counter()
    done = [m for m in train(cfg, data)][-1]
    return {"wall_s": time.perf_counter() - t0, "acc": done.metrics["test_acc"], "threads": threads}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    args = p.parse_args()
    t0 = time.perf_counter()
    data = load_splits("mnist", DataSettings(root=args.data_root))
    load_s = time.perf_counter() - t0
    cores = len(os.sched_getaffinity(0))
    print(f"hardware: {device_name(torch.device('cpu'))}, torch {torch.__version__}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    print(f"MNIST loaded into tensors in {load_s:.1f}s ({len(data.train)} train, {len(data.test)} test)")
    with tempfile.TemporaryDirectory() as tmp:
        runs = [one_epoch(data, t, args, f"{tmp}/r{i}") for i, t in enumerate([None, os.cpu_count()])]
    for r in runs:
        label = "trainer default threads (1 for a tiny model)" if r["threads"] is None else f"{r['threads']} threads"
        ok = "PASS" if r["acc"] >= 0.97 and r["wall_s"] <= 15 else "MISS"
        print(f"lenet5_mnist 1 epoch, batch {args.batch_size}, {label}: {r['wall_s']:.1f}s, "
              f"test accuracy {r['acc']:.2%}  [{ok}: goal >= 97.00 % in <= 15 s on {cores} cores]")
    print(f"speed-up of the default over {runs[1]['threads']} threads: {runs[1]['wall_s'] / runs[0]['wall_s']:.2f}x")


if __name__ == "__main__":
    main()
