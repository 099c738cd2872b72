"""Finish a trained checkpoint for shipping: record its size, cost and the fixed-subset accuracy in the sidecar.

python scripts/ship_checkpoint.py checkpoints/lenet5_mnist [--fp16] [--dest checkpoints/name]

The subset (the first 100 test images of each class, 1,000 in all) is what tests/test_shipped_checkpoints.py
re-evaluates; the full test-split accuracy is measured again here as well.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cnndemo import checkpoints  # noqa: E402
from cnndemo.layertable import summary  # noqa: E402
from cnndemo.train import TrainConfig, evaluate_checkpoint  # noqa: E402
from cnndemo.train.config import command_line  # noqa: E402
from cnndemo.models import load_checkpoint  # noqa: E402

SUBSET_PER_CLASS = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoint")
    parser.add_argument("--fp16", action="store_true", help="store the weights as float16 (halves the file)")
    parser.add_argument("--dest", default=None, help="write the shipped checkpoint here (a run trained elsewhere); "
                                                     "its recipe and command then name this path as --out")
    args = parser.parse_args()
    state, meta = checkpoints.load(args.checkpoint)
    model, _ = load_checkpoint(args.checkpoint)
    s = summary(model, tuple(meta["input_size"]))
    full = evaluate_checkpoint(args.checkpoint, meta["dataset"])
    part = evaluate_checkpoint(args.checkpoint, meta["dataset"], limit_per_class=SUBSET_PER_CLASS)
    meta["parameters"], meta["mult_adds"] = s.total_params, s.total_mult_adds
    meta["metrics"].update(test_acc=full["accuracy"], n_test=full["n"], subset_acc=part["accuracy"],
                           subset=f"first {SUBSET_PER_CLASS} test images per class ({part['n']} images)")
    if args.dest:
        meta["recipe"]["out"] = args.dest
        meta["command"] = command_line(TrainConfig(**meta["recipe"]))
    checkpoints.save(state, args.dest or args.checkpoint, meta, dtype=torch.float16 if args.fp16 else None)
    print(f"{meta['arch']}: test {full['accuracy']:.2%} ({full['n']}), subset {part['accuracy']:.2%} "
          f"({part['n']}), {s.total_params:,} params, {s.total_mult_adds:,} mult-adds")


if __name__ == "__main__":
    main()
