"""Where and in which precision a run computes: device choice, its name in words, CPU threads, bf16 and NHWC."""
from __future__ import annotations

import functools
import os
import platform
from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch
import torch.nn as nn

from .config import TrainConfig

SMALL_MODEL_PARAMS = 1_000_000


def pick_device(name: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def device_name(device: torch.device) -> str:
    """What the user is training on, in words."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"CPU ({cpu_model()}{cores} cores, {platform.machine()}, {torch.get_num_threads()} threads)"


def cpu_model() -> str:
    """The CPU's model name and a separator (e.g. "AMD EPYC, "), or "" where the system does not say."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            name = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    except OSError:
        name = platform.processor()
    return f"{name}, " if name else ""


def is_tiny(model: nn.Module) -> bool:
    """Under SMALL_MODEL_PARAMS parameters: too small for extra CPU threads or an NHWC layout to pay."""
    return sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS


def cpu_threads(config: TrainConfig, model: nn.Module) -> int | None:
    """Threads for a CPU run: tiny models (LeNet) run many times faster on one thread when cores are shared,
    because each op is too small to split and waiting threads spin (measured in bench/train_lenet.py)."""
    if config.threads:
        return config.threads
    return 1 if is_tiny(model) else None


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Compute with n CPU threads (None: torch's own choice), and give the old count back afterwards."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.cache  # asked twice a training step; the answer never changes
def cpu_has_amx() -> bool:
    """True on CPUs with AMX tiles, where oneDNN runs bf16 convolutions about 3x faster than fp32."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private, so absent in some builds: then fp32
    return bool(probe and probe())


def uses_bf16(device: torch.device, amp: bool) -> bool:
    """Whether amp means bf16 here: on CUDA, and on AMX CPUs (elsewhere CPU bf16 is emulated and slower)."""
    return amp and (device.type == "cuda" or (device.type == "cpu" and cpu_has_amx()))


def autocast(device: torch.device, amp: bool):
    """bf16 autocast where it is fast (see uses_bf16); plain fp32 elsewhere."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if uses_bf16(device, amp) else nullcontext()


def channels_last(config: TrainConfig, device: torch.device, model: nn.Module | None = None) -> bool:
    """NHWC on CUDA, with bf16 on AMX CPUs, and in fp32 on CPUs for models that are not tiny: oneDNN's
    convolutions want it (GoogLeNet-CIFAR steps 1.3x faster on an AVX2 CPU; bench/channels_last.py)."""
    if not config.channels_last:
        return False
    big = model is not None and not is_tiny(model)
    return device.type == "cuda" or uses_bf16(device, config.amp) or (device.type == "cpu" and big)
