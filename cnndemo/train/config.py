"""The settings of one training run, checked up front so a bad value fails before any work starts."""
from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, fields

from ..errors import BadInputError

MODES = ("scratch", "finetune", "probe")
# The learning rate a mode starts from when none is given (Adam, one-cycle peak). Scratch keeps the 1e-3 that
# recorded commands without --lr were run with. Fine-tuning EfficientNet-Lite0 on 48 CIFAR photos of 3 classes,
# 8 epochs (bench/class_builder.py --finetune-sweep): at 3e-3 the test loss went 0.76 -> 3.50, at 1e-3 it fell to
# 0.76 and stayed under 1, at 3e-4 and 1e-4 it learnt too slowly (0.92, 1.08). A new head on frozen features
# takes a large step safely (1e-2).
DEFAULT_LR = {"scratch": 1e-3, "finetune": 1e-3, "probe": 1e-2}
KEEP = ("best", "last")
MAX_RUN_NAME = 60
OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("onecycle", "cosine", "none")
AUGMENTS = ("auto", "none", "flip", "crop+flip")


@dataclass(frozen=True)
class TrainConfig:
    """One training run: model, data, optimisation, budget, hardware and where the checkpoint goes."""

    model: str = "lenet5"
    dataset: str = "shapes"  # a built-in name (cnndemo.data.DATASETS) or a path to a zip / tar.gz archive
    mode: str = "scratch"  # scratch | finetune (all layers) | probe (new head on frozen features)
    epochs: int = 1
    batch_size: int = 64
    lr: float | None = None  # None: the mode's default (DEFAULT_LR); see learning_rate
    optimizer: str = "adam"
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    label_smoothing: float = 0.0
    image_size: int | None = None  # feed images at this side length instead of the model's (pooling CNNs only)
    sizes: str = ""  # progressive resizing: one side length per epoch, e.g. "16,16,20,24" (the last repeats);
    #                  small early epochs cost a fraction of full-size ones, so a short run sees more images
    augment: str = "auto"  # auto: random crop (4 px padding) + flip for colour data, none for digits
    seed: int = 0
    time_budget_s: float | None = None
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA and on CPUs with AMX (train.device.uses_bf16)
    channels_last: bool = True  # where bf16 or CUDA is used (train.device.channels_last)
    compile: bool = False
    init: str = "auto"  # auto (random for scratch, else default) | none (random) | default | torchvision | package
    #                     | path to a cnndemo .safetensors checkpoint
    out: str = "runs/run"  # checkpoint stem: writes <out>.safetensors and <out>.json
    data_root: str | None = None
    limit_per_class: int | None = None  # train on the first n images of each class
    test_limit_per_class: int | None = None
    log_every: int = 1  # yield a step message every n steps
    threads: int | None = None  # CPU threads; None: 1 for tiny models (see device.cpu_threads), else torch's default
    keep: str = "best"  # best: the epoch with the best test accuracy | last: the last epoch (no pick by the test
    #                     set, which flatters a small one)
    run_name: str = ""  # the user's name for the run: shown and recorded in the sidecar, never a path

    def __post_init__(self) -> None:
        for name, allowed in (("mode", MODES), ("optimizer", OPTIMIZERS), ("schedule", SCHEDULES),
                              ("augment", AUGMENTS), ("keep", KEEP)):
            if getattr(self, name) not in allowed:
                raise BadInputError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        for name in ("epochs", "batch_size", "log_every"):
            if int(getattr(self, name)) < 1:
                raise BadInputError(f"{name} must be at least 1")
        if any(side < 8 for side in self.size_list + ((self.image_size,) if self.image_size is not None else ())):
            raise BadInputError("image size must be at least 8 pixels")
        if self.threads is not None and self.threads < 1:
            raise BadInputError("threads must be at least 1")
        if self.lr is not None and not self.lr > 0:
            raise BadInputError("the learning rate must be positive")
        _check_run_name(self.run_name)
        if not 0 <= self.label_smoothing < 1:
            raise BadInputError("label smoothing must be in [0, 1)")
        if self.time_budget_s is not None and self.time_budget_s <= 0:
            raise BadInputError("the time budget must be positive (seconds)")

    @property
    def learning_rate(self) -> float:
        """The learning rate the run uses: lr, or the mode's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.mode]

    @property
    def size_list(self) -> tuple[int, ...]:
        """The per-epoch side lengths of `sizes` as integers (empty: every epoch at one size)."""
        try:
            return tuple(int(part) for part in self.sizes.replace(" ", "").split(",") if part)
        except ValueError:
            raise BadInputError(f"sizes must be side lengths separated by commas, like 16,16,24, not "
                                f"{self.sizes!r}") from None

    def epoch_size(self, epoch: int) -> int | None:
        """The side length images are fed at in this epoch (1-based); None means the model's own size."""
        sides = self.size_list
        return sides[min(epoch, len(sides)) - 1] if sides else self.image_size

    @property
    def weights(self) -> str | None:
        """The starting weights for get_model: None means random initialisation."""
        if self.init == "auto":
            return None if self.mode == "scratch" else "default"
        return None if self.init in ("", "none") else self.init


def _check_run_name(name: str) -> None:
    """A run name is a short line of text: no control characters, at most MAX_RUN_NAME characters."""
    if len(name) > MAX_RUN_NAME:
        raise BadInputError(f"the run name is {len(name)} characters long; keep it to {MAX_RUN_NAME}")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise BadInputError("the run name may not contain line breaks or control characters")


def recipe(config: TrainConfig) -> dict:
    """The config as plain JSON-able values, for the checkpoint sidecar (with the learning rate really used)."""
    return {**asdict(config), "lr": config.learning_rate}


def command_line(config: TrainConfig) -> str:
    """The `python -m cnndemo train ...` command that reproduces this run."""
    default = TrainConfig()
    parts = ["python -m cnndemo train", f"--model {config.model}", f"--dataset {config.dataset}"]
    for f in fields(TrainConfig):
        value = getattr(config, f.name)
        if f.name in ("model", "dataset", "data_root", "log_every", "device", "run_name") \
                or value == getattr(default, f.name):
            continue
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else f"--no-{f.name.replace('_', '-')}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


# The Train tab's defaults: a run that works on a fresh offline machine (shapes are drawn by code) and reaches
# about 97 % test accuracy in under 10 s on a 2-core CPU (bench/class_builder.py).
SHAPES_RECIPE = TrainConfig(model="lenet5", dataset="shapes", epochs=5, batch_size=64, lr=3e-3)
# A class-builder set: a new head on frozen EfficientNet-Lite0 features (ImageNet weights from the offline
# package), pictures fed at 160 px (half the cost of 224 px at about the same accuracy here); many cheap epochs
# over cached features, keeping the last one so that a small test set does not pick the lucky epoch.
CLASS_SET_RECIPE = TrainConfig(model="efficientnet_lite0", dataset="my classes", mode="probe", epochs=60,
                               batch_size=64, image_size=160, keep="last")
