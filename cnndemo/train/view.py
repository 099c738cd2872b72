"""What the Train tab shows during a run, rebuilt from the trainer's messages (no gradio here)."""
from __future__ import annotations

from matplotlib.figure import Figure

from ..figures import confusion_figure, curves_figure
from ..outputs import image_file

MAX_MISTAKES = 18  # misclassified test images shown per epoch


class TrainView:
    """The progress line, curves, confusion matrix, mistakes and checkpoint files of one run."""

    def __init__(self, data) -> None:
        self.data, self.steps, self.epochs, self.line = data, [], [], "Starting..."
        self.confusion: Figure | None = None
        self.wrong: list[tuple[str, str]] = []
        self.files: list[str] | None = None

    def update(self, m: dict) -> None:
        """Fold one trainer message into the view."""
        kind = m["kind"]
        if kind == "start":
            self.line = (f"Training **{m['model']}** ({m['mode']}) on **{m['device']}**: {m['n_train']:,} images, "
                         f"{m['trainable']:,} of {m['params']:,} parameters trainable")
        elif kind == "status":
            self.line = m["message"]
        elif kind == "step":
            self._step(m)
        elif kind == "epoch":
            self._epoch(m)
        elif kind == "done":
            acc = m["metrics"].get("test_acc")
            self.line = (f"**{m['reason']}** after {m['elapsed_s']:.0f} s on {m['device']}: {m['message']}. "
                         + (f"Best test accuracy **{100 * acc:.2f} %**." if acc is not None else "No checkpoint."))

    def _step(self, m: dict) -> None:
        """The train-loss point and the progress line of one optimiser step."""
        self.steps.append({"step": m["step"], "value": m["loss"], "curve": "train loss"})
        eta = f", about {m['eta_s']:.0f} s left" if m.get("eta_s") is not None else ""
        self.line = (f"step {m['step']}/{m['steps_total']} ({100 * m['step'] / m['steps_total']:.0f} %), "
                     f"loss {m['loss']:.3f}, {m['images_per_s']:.0f} images/s{eta}")

    def _epoch(self, m: dict) -> None:
        """Curves, confusion matrix and mistakes after an epoch's evaluation."""
        self.epochs += [{"epoch": m["epoch"], "value": m["train_acc"], "curve": "train"},
                        {"epoch": m["epoch"], "value": m["test_acc"], "curve": "test"}]
        self.steps.append({"step": m["step"], "value": m["test_loss"], "curve": "test loss"})
        if "confusion_matrix" in m:
            self.confusion = confusion_figure(m["confusion_matrix"], self.data.classes)
        images, classes = self.data.test.images, self.data.classes
        self.wrong = [(image_file(images[i].permute(1, 2, 0).squeeze(-1).numpy()), f"{classes[t]} -> {classes[p]}")
                      for i, t, p in m.get("misclassified", [])[:MAX_MISTAKES]]

    def outputs(self) -> tuple:
        """Progress line, curves figure, confusion figure, mistakes gallery and checkpoint files, in that order."""
        return self.line, curves_figure(self.steps, self.epochs), self.confusion, self.wrong, self.files
