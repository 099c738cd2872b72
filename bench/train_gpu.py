"""Benchmark: CIFAR ResNet-18 training throughput, the seed's loop vs our trainer, side by side in one run.

(a) the seed's loop: batch 32, fp32, a torchvision-style Dataset that makes a PIL image per sample and applies
    ToTensor/Normalize, a torch DataLoader (the seed's 0 workers unless --seed-workers), Adam 1e-3.
(b) our trainer (cnndemo.train.train): batch 512, bf16 autocast, channels_last, SGD one-cycle, uint8 data kept
    on the device and augmented there (crop+flip). Goal: b/a >= 5x on a CUDA GPU.
(c) --to-accuracy: ResNet-18 from scratch to >= 92 % CIFAR-10 (JPEG copy) test accuracy within a 60 s wall budget
    on one H100; the trainer stops at the budget and the accuracy reached is reported as it is.
Images/s are wall-clock over --steps full-batch steps after --warmup steps; both loops sync once per step.
Usage: python bench/train_gpu.py [--steps 50] [--warmup 20] [--compile] [--to-accuracy] [--device cuda]
CPU smoke: python bench/train_gpu.py --device cpu --steps 2 --warmup 1 --limit-per-class 20
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402
from torchvision import transforms  # noqa: E402

from cnndemo.data import DataSettings, Splits, TensorData, load_splits, per_class_subset  # noqa: E402
from cnndemo.models import get_model  # noqa: E402
from cnndemo.train import Done, Epoch, Step, TrainConfig, device_name, train  # noqa: E402

MODEL = "resnet18_cifar"
SEED_BATCH = 32


class SeedCifar(Dataset):
    """What torchvision.datasets.CIFAR10 does per sample: uint8 HWC array -> PIL image -> transform."""

    def __init__(self, data: TensorData) -> None:
        self.images = data.images.permute(0, 2, 3, 1).contiguous().numpy()  # CIFAR10.data layout (N, H, W, C)
        self.labels = data.labels.tolist()
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,) * 3, (0.5,) * 3)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i])), self.labels[i]


def forever(loader: DataLoader) -> Iterator:
    """Batches across epochs, so a small subset still gives enough steps."""
    while True:
        yield from loader


def seed_step(model: nn.Module, opt, batch, device: torch.device) -> float:
    """One step of the seed's loop, including its per-step loss.item()."""
    inputs, labels = batch[0].to(device), batch[1].to(device)
    opt.zero_grad()
    loss = nn.functional.cross_entropy(model(inputs), labels)
    loss.backward()
    opt.step()
    return loss.item()


def seed_throughput(data: TensorData, device: torch.device, warmup: int, steps: int, workers: int) -> float:
    """Images/s of the seed's loop over `steps` steps after `warmup` steps."""
    torch.manual_seed(0)
    loader = DataLoader(SeedCifar(data), batch_size=SEED_BATCH, shuffle=True, num_workers=workers,
                        persistent_workers=workers > 0)
    model = get_model(MODEL).to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = forever(loader)
    for batch in itertools.islice(batches, warmup):
        seed_step(model, opt, batch, device)
    t0, n = time.perf_counter(), 0
    for batch in itertools.islice(batches, steps):
        seed_step(model, opt, batch, device)  # its loss.item() waits for the GPU
        n += len(batch[1])
    return n / (time.perf_counter() - t0)


def trainer_config(args, batch_size: int, epochs: int, out: str, **kw) -> TrainConfig:
    """Our trainer's fast recipe: SGD Nesterov one-cycle, bf16, channels_last, crop+flip on the device."""
    return TrainConfig(model=MODEL, dataset="cifar10", batch_size=batch_size, epochs=epochs, lr=0.4,
                       optimizer="sgd", momentum=0.9, weight_decay=5e-4, label_smoothing=0.1, schedule="onecycle",
                       amp=True, channels_last=True, compile=args.compile, device=args.device, out=out, **kw)


def trainer_throughput(data: Splits, args, batch_size: int) -> float:
    """Images/s of cnndemo.train.train from the wall time between consecutive step messages of one epoch.

    Only full-batch steps after the warm-up count, and never the first step of an epoch (its gap holds the
    previous epoch's evaluation). log_every=1 makes each step message follow a loss.item(), like the seed."""
    n, spe = len(data.train), -(-len(data.train) // batch_size)
    imgs, secs, counted, prev = 0, 0.0, 0, None
    with tempfile.TemporaryDirectory() as tmp:
        cfg = trainer_config(args, batch_size, args.warmup + args.steps + 1, f"{tmp}/tput", log_every=1)
        run = train(cfg, data)
        for m in (m for m in run if isinstance(m, Step)):
            i = (m.step - 1) % spe + 1  # step number within its epoch
            if prev and prev.epoch == m.epoch and m.step > args.warmup and i * batch_size <= n:
                imgs, secs, counted = imgs + batch_size, secs + m.elapsed_s - prev.elapsed_s, counted + 1
            prev = m
            if counted >= args.steps:
                break
        run.close()  # stop the run here: no evaluation, no checkpoint
    return imgs / secs if secs else float("nan")


def to_accuracy(data: Splits, args) -> None:
    """Train from scratch under the time budget and print the wall time and the best test accuracy reached."""
    with tempfile.TemporaryDirectory() as tmp:
        cfg = trainer_config(args, args.batch_size, args.epochs, f"{tmp}/acc", time_budget_s=args.budget_s,
                             log_every=50)
        t0 = time.perf_counter()
        msgs = [m for m in train(cfg, data) if isinstance(m, (Epoch, Done))]
        wall = time.perf_counter() - t0
    done, epochs = msgs[-1], [m for m in msgs if isinstance(m, Epoch)]
    acc = done.metrics.get("test_acc", float("nan"))
    ok = "PASS" if acc >= 0.92 and wall <= args.budget_s else "MISS"
    steps = epochs[-1].step if epochs else 0
    print(f"(c) to accuracy: {wall:.1f}s wall in train(), {steps} steps, {len(epochs)}/{args.epochs} epochs, "
          f"test accuracy {acc:.2%} on {len(data.test)} CIFAR-10 (JPEG copy) test images, stop: {done.reason}  "
          f"[{ok}: goal >= 92 % in <= {args.budget_s:.0f} s]")


def parse() -> argparse.Namespace:
    """Command-line flags."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="timed steps per loop")
    p.add_argument("--warmup", type=int, default=20, help="untimed steps first (cuDNN, allocator, compile)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--limit-per-class", type=int, default=None, help="train/test on n images per class (smoke)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--compile", action="store_true", help="torch.compile in our trainer")
    p.add_argument("--batch-size", type=int, default=512, help="our trainer's batch")
    p.add_argument("--seed-workers", type=int, default=0, help="DataLoader workers of the seed loop (seed: 0)")
    p.add_argument("--to-accuracy", action="store_true", help="also run (c)")
    p.add_argument("--epochs", type=int, default=12, help="epochs for (c)")
    p.add_argument("--budget-s", type=float, default=60.0, help="wall budget for (c)")
    return p.parse_args()


def main() -> None:
    args = parse()
    device = torch.device(args.device)
    t0 = time.perf_counter()
    n = args.limit_per_class
    data = load_splits("cifar10", DataSettings(root=args.data_root, limit_per_class=n, test_limit_per_class=n))
    print(f"device: {device_name(device)}, torch {torch.__version__}; CIFAR-10 (JPEG copy) loaded as uint8 tensors "
          f"in {time.perf_counter() - t0:.1f}s ({len(data.train)} train, {len(data.test)} test)")
    a = seed_throughput(data.train, device, args.warmup, args.steps, args.seed_workers)
    print(f"(a) seed loop: {a:.1f} images/s (batch {SEED_BATCH}, fp32, per-sample PIL + ToTensor/Normalize, "
          f"DataLoader {args.seed_workers} workers, Adam)")
    bs = args.batch_size
    if len(data.train) < 2 * bs:  # a smoke-test subset: fit the timed steps into one epoch
        bs = max(len(data.train) // (args.warmup + args.steps + 1), 1)
    b = trainer_throughput(Splits(data.train, per_class_subset(data.test, 2)), args, bs)
    fast = "bf16 autocast, channels_last" if device.type == "cuda" else "fp32 (bf16/channels_last are CUDA only)"
    print(f"(b) our trainer: {b:.1f} images/s (batch {bs}, {fast}, compile {'on' if args.compile else 'off'}, "
          f"SGD one-cycle, uint8 data on the device, crop+flip there)")
    print(f"ratio b/a: {b / a:.2f}x  [{'PASS' if b / a >= 5 else 'MISS'}: goal >= 5x on a CUDA GPU; "
          f"{args.steps} timed steps after {args.warmup} warm-up steps each]")
    if args.to_accuracy:
        to_accuracy(data, args)


if __name__ == "__main__":
    main()
